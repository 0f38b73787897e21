# Inside a lab guest: snapshots of this real kernel's sysfs, written to the shared directory.
# The passthrough boot also gets one with the NVMe controller's two VFs enabled.
set -eu
out=$VFIOCTL_LAB_OUT
vfioctl snapshot "$out/$VFIOCTL_LAB_BOOT" >&2
if [ "$VFIOCTL_LAB_BOOT" = passthrough ]; then
  for pf in /sys/bus/pci/devices/*; do
    [ -f "$pf/sriov_totalvfs" ] || continue
    echo 0 > "$pf/sriov_drivers_autoprobe"
    echo 2 > "$pf/sriov_numvfs"
    udevadm settle 2>/dev/null || sleep 1
    vfioctl snapshot "$out/$VFIOCTL_LAB_BOOT-sriov" >&2
  done
fi
