# AMD-Vi without interrupt remapping (the IOMMU's intremap=off: the IVRS table describes no
# IOAPIC, and the kernel says so): groups exist, vfio_iommu_type1 refuses them.
kernel=6.1
machine=q35,kernel-irqchip=split
cpu=EPYC
iommu=amd-iommu,intremap=off
append=iommu=pt
topologies=isolated
suite=AMDNoIntremapBootTests
ci=yes
