# Adds modules to the initramfs virtme-ng builds for a lab boot. scripts/lab puts this directory
# on PYTHONPATH for vng and names the modules in VFIOCTL_LAB_INITRAMFS_MODULES (a boot's
# initramfs= line); Python imports sitecustomize at start-up in vng and in the virtme-run it
# spawns, which builds the initramfs from virtme.virtmods.MODALIASES. (A virtme-run wrapper
# first on PATH does not work where vng runs under pyenv, which puts its own bin first.)
# Linux 6.12 behind a virtio-iommu defers every PCI probe, vng's 9p root included, until
# virtio_iommu is loaded: without it in the initramfs the boot panics ("Failed to mount real
# root").
import os

_modules = os.environ.get("VFIOCTL_LAB_INITRAMFS_MODULES", "").split()
if _modules:
    try:
        from virtme import virtmods
    except ImportError:
        pass
    else:
        virtmods.MODALIASES.extend(m for m in _modules if m not in virtmods.MODALIASES)
