# No IOMMU in the firmware at all (as with VT-d disabled in the setup): no DMAR table, no groups.
kernel=6.1
machine=q35
iommu=
append=
topologies=isolated
suite=NoVTdBootTests
ci=no
