# SR-IOV VF attributes over rtnetlink on a real kernel: netdevsim (built out of tree for the lab
# kernel, see scripts/lab-netdevsim) with up to 64 VFs, and the NVMe SR-IOV controller for the
# PCI side of VFs. --all only (ci=no): CI runs its suite in the 'passthrough' boot.
kernel=6.1
machine=q35,kernel-irqchip=split
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=on iommu=pt
topologies=nvme-sriov
modules=netdevsim
setup=sh lab/guest/netdevsim.sh 4 >/dev/null
suite=SRIOVBootTests
ci=no
