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

/// Whether this machine has the CPUID instruction (1 on x86, 0 elsewhere).
int vfioctl_has_cpuid(void);

/// CPUID with eax = leaf and ecx = subleaf on the calling CPU; out gets eax, ebx, ecx, edx
/// (all 0 where there is no CPUID instruction).
void vfioctl_cpuid(unsigned int leaf, unsigned int subleaf, unsigned int out[4]);

/// Pins the calling thread to the first CPU its affinity allows and keeps the old affinity in
/// *saved (give it back to vfioctl_unpin). Returns that CPU, or -1 with errno.
int vfioctl_pin(void **saved);

/// Restores the affinity vfioctl_pin saved and frees it: 0, or -1 with errno.
int vfioctl_unpin(void *saved);

/// KVM_GET_MSRS on a /dev/kvm descriptor for one feature MSR: the ioctl's result (the number
/// of MSRs read, 0 or 1) with *value set, or -1 with errno (also where KVM's header is missing).
int vfioctl_kvm_get_msr(int fd, unsigned int index, unsigned long long *value);

#endif
