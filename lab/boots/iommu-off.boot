# The firmware has VT-d (a DMAR table) but the kernel was booted with intel_iommu=off: no groups.
kernel=6.1
machine=q35,kernel-irqchip=split
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=off
topologies=isolated bridge
suite=IOMMUOffBootTests
ci=no
