# An AMD host: an AMD CPU model and an AMD IOMMU (an IVRS ACPI table) with interrupt remapping,
# no IOMMU option on the command line (AMD-Vi is on by default).
kernel=6.1
machine=q35,kernel-irqchip=split
cpu=EPYC
iommu=amd-iommu,intremap=on
append=iommu=pt
topologies=isolated bridge
suite=AMDIOMMUBootTests
ci=yes
