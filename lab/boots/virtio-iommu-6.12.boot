# A virtio-iommu (QEMU writes a VIOT ACPI table) on Linux 6.12. Debian's 6.12 has virtio_iommu (a
# module, needed in the initramfs): groups, but never interrupt remapping.
kernel=6.12
machine=q35
iommu=virtio-iommu-pci,addr=0x18
append=
topologies=isolated
initramfs=virtio_iommu
suite=VirtioIOMMUBootTests
ci=yes
