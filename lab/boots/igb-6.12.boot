# A real SR-IOV NIC driver on Linux 6.12: QEMU's igb (Intel 82576) with the kernel's igb and igbvf,
# behind an Intel IOMMU with an Intel CPU model: VF counts, host and vfio-pci VFs, MAC / VLAN /
# spoofchk / trust over rtnetlink, and what igb refuses (link state, 802.1ad, a minimum rate).
kernel=6.12
machine=q35,kernel-irqchip=split
cpu=Skylake-Client
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=on iommu=pt
topologies=igb
suite=IGBBootTests
ci=no
