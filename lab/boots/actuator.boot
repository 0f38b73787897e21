# detach, reattach and recover on the topologies that matter for them: a singleton group, a
# group shared behind a conventional PCI bridge, a multifunction slot.
kernel=6.1
machine=q35,kernel-irqchip=split
iommu=intel-iommu,intremap=on,caching-mode=on
append=intel_iommu=on iommu=pt
topologies=isolated bridge multifunction
suite=ActuatorBootTests
ci=yes
