# A virtio-iommu (QEMU writes a VIOT ACPI table) on Linux 6.1. Debian's 6.1 is built without
# CONFIG_VIRTIO_IOMMU: the firmware has an IOMMU the kernel has no driver for, so no groups.
kernel=6.1
machine=q35
iommu=virtio-iommu-pci,addr=0x18
append=
topologies=isolated
suite=VirtioIOMMUBootTests
# --all only (ci=no) since CI took over 30 minutes: a verdict-only boot whose snapshot
# (fixtures/lab/virtio-iommu-6.1) the unit tests replay in CI (CheckFixtureTests.causeOfNoGroups, the same
# judgement as VirtioIOMMUBootTests on 6.1).
ci=no
