# The host CPU as libvirt sees it on Nehalem (QEMU's Nehalem under TCG; a Core 2, Conroe, cannot run the Swift test bundle: illegal instruction):
# vfioctl cpu host (CPUID), and its cpu dump decoded elsewhere, against virsh capabilities.
kernel=6.1
machine=q35
cpu=Nehalem
iommu=
append=
topologies=
suite=CPUBootTests
