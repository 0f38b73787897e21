# A virtio-iommu (QEMU writes a VIOT ACPI table) on Linux 6.1. Debian's 6.1 is built without
# CONFIG_VIRTIO_IOMMU: the firmware has an IOMMU the kernel has no driver for, so no groups.
kernel=6.1
machine=q35
iommu=virtio-iommu-pci,addr=0x18
append=
topologies=isolated
suite=VirtioIOMMUBootTests
ci=yes
