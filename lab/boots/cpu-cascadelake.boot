# The host CPU as libvirt sees it on Cascade Lake with IA32_ARCH_CAPABILITIES (MSR 0x10a) (QEMU's Cascadelake-Server-v2 under TCG):
# vfioctl cpu host (CPUID), and its cpu dump decoded elsewhere, against virsh capabilities.
kernel=6.1
machine=q35
cpu=Cascadelake-Server-v2
iommu=
append=
topologies=
suite=CPUBootTests
ci=no
