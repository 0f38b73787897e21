# Inside a lab guest: the mdev core and mtty, the kernel's sample mdev driver built by
# scripts/lab-mtty (VFIOCTL_LAB_MTTY, set by scripts/lab for boots with modules=mtty). Idempotent.
set -eu
fail() { echo "error: mtty: $1" >&2; exit 1; }
modprobe vfio_iommu_type1 || fail "modprobe vfio_iommu_type1 failed"
modprobe mdev || fail "modprobe mdev failed (Debian builds CONFIG_VFIO_MDEV=m)"
if [ ! -e /sys/class/mdev_bus/mtty ]; then
  ko=${VFIOCTL_LAB_MTTY:-}
  [ -n "$ko" ] && [ -f "$ko" ] || fail "VFIOCTL_LAB_MTTY names no module ('$ko'): boot with modules=mtty"
  insmod "$ko" || fail "insmod $ko failed"
fi
[ -d /sys/class/mdev_bus/mtty/mdev_supported_types ] || fail "mtty registered no mdev parent"
