# Every device topology on a q35 machine with an Intel CPU model, an Intel IOMMU and interrupt
# remapping, booted with intel_iommu=on: what a host prepared for passthrough looks like.
# It also carries the 'sriov' boot's suite (netdevsim's VF attributes over rtnetlink): one boot
# instead of two in CI saves a guest's start (about a minute under emulation); the two suites
# touch different devices (the NVMe PF's VFs here, netdevsim's there).
kernel=6.1
machine=q35,kernel-irqchip=split
cpu=Skylake-Client
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=on iommu=pt
topologies=isolated bridge switch multifunction nvme-sriov nvme-disk
modules=netdevsim
setup=sh lab/guest/netdevsim.sh 4 >/dev/null
suite=(PassthroughBootTests|SRIOVBootTests)
ci=yes
