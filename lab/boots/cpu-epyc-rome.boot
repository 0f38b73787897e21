# The host CPU as libvirt sees it on AMD EPYC Rome (QEMU's EPYC-Rome under TCG):
# vfioctl cpu host (CPUID), and its cpu dump decoded elsewhere, against virsh capabilities.
kernel=6.1
machine=q35
cpu=EPYC-Rome
iommu=
append=
topologies=
suite=CPUBootTests
ci=no
