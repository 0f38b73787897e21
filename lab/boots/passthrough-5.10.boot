# The passthrough boot on Linux 5.10 (bullseye's; `scripts/setup legacy-kernel` installs it): a
# kernel before 5.15, with a `reset` attribute and no `reset_method`. Every device topology on a
# q35 machine with an Intel CPU model, an Intel IOMMU and interrupt remapping.
kernel=5.10
machine=q35,kernel-irqchip=split
cpu=Skylake-Client
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=on iommu=pt
topologies=isolated bridge switch multifunction nvme-sriov nvme-disk
suite=PassthroughBootTests
