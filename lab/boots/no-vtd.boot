# No IOMMU in the firmware at all (as with VT-d disabled in the setup): no DMAR table, no groups.
machine=q35
iommu=
append=
topologies=isolated
suite=NoVTdBootTests
