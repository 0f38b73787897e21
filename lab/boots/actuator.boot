# detach, reattach and recover on the topologies that matter for them: a singleton group, a
# group shared behind a conventional PCI bridge, a multifunction slot.
# It also carries the 'igb' boot's suite (a real SR-IOV NIC driver: QEMU's 82576 with igb and
# igbvf), with the igb boot's Intel CPU model: one guest start less in CI (about a minute under
# emulation). The suites run one after the other (parallel=no): this one unloads vfio_pci and
# e1000e, which must not meet the igb suite's VFs on vfio-pci.
kernel=6.1
machine=q35,kernel-irqchip=split
cpu=Skylake-Client
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=on iommu=pt
topologies=isolated bridge multifunction igb
suite=(ActuatorBootTests|IGBBootTests)
parallel=no
ci=yes
