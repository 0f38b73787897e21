# The firmware has AMD-Vi (an IVRS table) but the command line turned it off (amd_iommu=off):
# no groups, and the cause is the command line, not the firmware.
kernel=6.1
machine=q35,kernel-irqchip=split
cpu=EPYC
iommu=amd-iommu,intremap=on
append=amd_iommu=off
topologies=isolated
suite=AMDIOMMUOffBootTests
# --all only (ci=no) since CI took over 30 minutes: a verdict-only boot whose snapshot
# (fixtures/lab/amd-iommu-off) the unit tests replay in CI (CheckFixtureTests.causeOfNoGroups, the same
# judgement as AMDIOMMUOffBootTests).
ci=no
