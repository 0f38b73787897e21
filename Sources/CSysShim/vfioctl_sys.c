#define _GNU_SOURCE
#include "vfioctl_sys.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if __has_include(<linux/kvm.h>)
#include <linux/kvm.h>
#endif
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

int vfioctl_has_cpuid(void) {
#if defined(__x86_64__) || defined(__i386__)
    return 1;
#else
    return 0;
#endif
}

void vfioctl_cpuid(unsigned int leaf, unsigned int subleaf, unsigned int out[4]) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned int eax, ebx, ecx, edx;
    __cpuid_count(leaf, subleaf, eax, ebx, ecx, edx);
    out[0] = eax; out[1] = ebx; out[2] = ecx; out[3] = edx;
#else
    (void)leaf; (void)subleaf;
    out[0] = out[1] = out[2] = out[3] = 0;
#endif
}

struct vfioctl_affinity {
    cpu_set_t *set;
    size_t size;
};

int vfioctl_pin(void **saved) {
    size_t count = 1024;
    cpu_set_t *set;
    size_t size;
    for (;;) {
        set = CPU_ALLOC(count);
        if (!set) return -1;
        size = CPU_ALLOC_SIZE(count);
        if (sched_getaffinity(0, size, set) == 0) break;
        int error = errno;
        CPU_FREE(set);
        // EINVAL: the kernel's mask is larger than ours (more than `count` possible CPUs).
        if (error != EINVAL || count >= (1u << 20)) { errno = error; return -1; }
        count *= 2;
    }
    int cpu = -1;
    for (size_t i = 0; i < count; i++) {
        if (CPU_ISSET_S(i, size, set)) { cpu = (int)i; break; }
    }
    cpu_set_t *one = cpu >= 0 ? CPU_ALLOC(count) : NULL;
    if (!one) {
        CPU_FREE(set);
        errno = cpu >= 0 ? ENOMEM : ESRCH;
        return -1;
    }
    CPU_ZERO_S(size, one);
    CPU_SET_S((size_t)cpu, size, one);
    // The kernel moves the thread to that CPU before sched_setaffinity returns.
    int rc = sched_setaffinity(0, size, one);
    int error = errno;
    CPU_FREE(one);
    struct vfioctl_affinity *keep = rc == 0 ? malloc(sizeof *keep) : NULL;
    if (!keep) {
        if (rc == 0) { sched_setaffinity(0, size, set); error = ENOMEM; }
        CPU_FREE(set);
        errno = error;
        return -1;
    }
    keep->set = set;
    keep->size = size;
    *saved = keep;
    return cpu;
}

int vfioctl_unpin(void *saved) {
    struct vfioctl_affinity *keep = saved;
    if (!keep) return 0;
    int rc = sched_setaffinity(0, keep->size, keep->set);
    int error = errno;
    CPU_FREE(keep->set);
    free(keep);
    errno = error;
    return rc;
}

int vfioctl_kvm_get_msr(int fd, unsigned int index, unsigned long long *value) {
#if defined(KVM_GET_MSRS)
    // struct kvm_msrs ends in a flexible array: room for one entry after it.
    union {
        struct kvm_msrs header;
        unsigned char bytes[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
    } request;
    memset(&request, 0, sizeof request);
    request.header.nmsrs = 1;
    request.header.entries[0].index = index;
    int rc = ioctl(fd, KVM_GET_MSRS, &request);
    if (rc < 0) return -1;
    *value = request.header.entries[0].data;
    return rc;
#else
    (void)fd; (void)index; (void)value;
    errno = ENOTTY;
    return -1;
#endif
}
