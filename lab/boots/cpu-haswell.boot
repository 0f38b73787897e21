# The host CPU as libvirt sees it on Haswell with TSX in CPUID (family 6 model 60): libvirt drops hle and rtm (QEMU's Haswell-v1 under TCG):
# vfioctl cpu host (CPUID), and its cpu dump decoded elsewhere, against virsh capabilities.
kernel=6.1
machine=q35
cpu=Haswell-v1
iommu=
append=
topologies=
suite=CPUBootTests
