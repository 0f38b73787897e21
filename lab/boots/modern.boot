# Modern VFIO on Linux 6.1, in one boot: mediated devices through the kernel's sample mdev driver
# mtty (scripts/lab-mtty; a parent "mtty" with types mtty-1 and mtty-2): vfioctl creates, lists and
# removes mdevs, Debian's mdevctl reads vfioctl's definitions and vfioctl mdevctl's, QEMU opens an
# mdev with -device vfio-pci,sysfsdev=; and a vfio-pci variant driver: Linux's own vfio-pci built
# as e1000e_vfio_pci for QEMU's e1000e (scripts/lab-vfiovariant), indexed by depmod
# (lab/guest/vfiovariant.sh): show names it, detach binds it, reattach gives e1000e back; its
# second alias names the VFs of QEMU's igb (8086:10ca): sriov create and apply bind VFs not made
# yet to it.
kernel=6.1
machine=q35,kernel-irqchip=split
cpu=Skylake-Client
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=on iommu=pt
topologies=isolated igb
modules=mtty vfiovariant
setup=sh lab/guest/mtty.sh && sh lab/guest/vfiovariant.sh >/dev/null
suite=(MdevBootTests|VariantBootTests)
ci=yes
