# Mediated devices on a real kernel: the kernel's sample mdev driver mtty (built out of tree for
# the lab kernel, see scripts/lab-mtty) as a parent "mtty" with types mtty-1 and mtty-2; vfioctl
# creates, lists and removes mdevs, mdevctl (Debian's) reads vfioctl's definitions and vfioctl
# reads mdevctl's, and QEMU opens a created mdev with -device vfio-pci,sysfsdev=.
kernel=6.1
machine=q35,kernel-irqchip=split
cpu=Skylake-Client
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=on iommu=pt
topologies=isolated
modules=mtty
setup=sh lab/guest/mtty.sh
suite=MdevBootTests
ci=yes
