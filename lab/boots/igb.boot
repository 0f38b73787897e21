# A real SR-IOV NIC driver on Linux 6.1: QEMU's igb (Intel 82576) with the kernel's igb and igbvf,
# behind an Intel IOMMU with an Intel CPU model: VF counts, host and vfio-pci VFs, MAC / VLAN /
# spoofchk / trust over rtnetlink, and what igb refuses (link state, 802.1ad, a minimum rate).
kernel=6.1
machine=q35,kernel-irqchip=split
cpu=Skylake-Client
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=on iommu=pt
topologies=igb
suite=IGBBootTests
# --all only (ci=no): CI runs this suite in the 'actuator' boot.
ci=no
