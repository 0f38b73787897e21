# The host CPU as libvirt sees it on Hygon Dhyana (vendor HygonGenuine) (QEMU's Dhyana under TCG):
# vfioctl cpu host (CPUID), and its cpu dump decoded elsewhere, against virsh capabilities.
kernel=6.1
machine=q35
cpu=Dhyana
iommu=
append=
topologies=
suite=CPUBootTests
