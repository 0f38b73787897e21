# An IOMMU without interrupt remapping (intremap=off), booted WITHOUT intel_iommu=on: Debian's
# kernel turns VT-d on by default (CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF=y), so groups exist;
# but vfio_iommu_type1 refuses to attach them unless allow_unsafe_interrupts is set.
kernel=6.1
machine=q35
iommu=intel-iommu,intremap=off,caching-mode=on
append=
topologies=isolated
suite=NoIntremapBootTests
# --all only (ci=no) since issue 21 made CI longer: its snapshot (fixtures/lab/no-intremap) is
# replayed by the unit tests in CI (CheckTests, LabFixtureTests), and amd-no-intremap proves the
# same verdict on a real kernel in CI.
ci=no
