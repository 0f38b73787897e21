// Linux and glibc definitions that Swift's Glibc module does not export.
#ifndef VFIOCTL_SYS_H
#define VFIOCTL_SYS_H

/// O_PATH: open a directory only as a base for *at() calls (hidden behind _GNU_SOURCE).
int vfioctl_o_path(void);

/// openat2(root, path, flags) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: `path` and every
/// link met on the way resolve as if `root` were "/" (Linux 5.6+; -1 with ENOSYS before).
int vfioctl_open_in_root(int root, const char *path, int flags);

/// Lets malloc grow its heaps in large steps and never trim before exit: a short-lived tool
/// building megabytes of output otherwise makes a brk/mprotect call per 128 KiB.
void vfioctl_tune_malloc(void);

/// memfd_create(name, MFD_CLOEXEC): an anonymous file in memory (-1 with errno on failure).
int vfioctl_memfd(const char *name);

#endif
