#define _GNU_SOURCE
#include "vfioctl_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif

int vfioctl_o_path(void) { return O_PATH; }

int vfioctl_open_in_root(int root, const char *path, int flags) {
#if defined(SYS_openat2) && defined(RESOLVE_IN_ROOT)
    struct open_how how = {.flags = (uint64_t)(unsigned)flags, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    return (int)syscall(SYS_openat2, root, path, &how, sizeof how);
#else
    (void)root; (void)path; (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

void vfioctl_tune_malloc(void) {
    mallopt(M_TOP_PAD, 16 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

int vfioctl_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }
