# vfio-pci variant drivers on Linux 6.1: Linux's own vfio-pci built out of tree as e1000e_vfio_pci
# with one PCI_DRIVER_OVERRIDE_DEVICE_VFIO entry for QEMU's e1000e (scripts/lab-vfiovariant),
# installed in the guest's module directory and indexed by depmod (lab/guest/vfiovariant.sh); two
# e1000e NICs, each alone in its group behind an Intel IOMMU: show names the variant, detach binds
# it (modprobe by name, driver_override), reattach gives e1000e back.
kernel=6.1
machine=q35,kernel-irqchip=split
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=on iommu=pt
topologies=isolated
modules=vfiovariant
setup=sh lab/guest/vfiovariant.sh >/dev/null
suite=VariantBootTests
ci=yes
