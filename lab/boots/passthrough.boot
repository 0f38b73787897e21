# Every device topology on a q35 machine with an Intel IOMMU and interrupt remapping, booted
# with intel_iommu=on: what a host prepared for passthrough looks like.
machine=q35,kernel-irqchip=split
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=on iommu=pt
topologies=isolated bridge switch multifunction nvme-sriov nvme-disk
suite=PassthroughBootTests
