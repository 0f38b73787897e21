# The host CPU as libvirt sees it on a Core 2 (Conroe) (QEMU's Conroe under TCG):
# vfioctl cpu host (CPUID), and its cpu dump decoded elsewhere, against virsh capabilities.
kernel=6.1
machine=q35
cpu=Conroe
iommu=
append=
topologies=
suite=CPUBootTests
