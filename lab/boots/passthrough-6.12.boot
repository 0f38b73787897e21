# The passthrough boot on Linux 6.12.
# Every device topology on a q35 machine with an Intel CPU model, an Intel IOMMU and interrupt
# remapping, booted
# with intel_iommu=on: what a host prepared for passthrough looks like.
kernel=6.12
machine=q35,kernel-irqchip=split
cpu=Skylake-Client
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=on iommu=pt
topologies=isolated bridge switch multifunction nvme-sriov nvme-disk
suite=PassthroughBootTests
