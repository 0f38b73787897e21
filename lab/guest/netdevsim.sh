# Inside a lab guest: a netdevsim PF with N SR-IOV VFs (default 0), its VF limit raised to MAX
# (default 64). Loads the module built by scripts/lab-netdevsim (VFIOCTL_LAB_NETDEVSIM, set by
# scripts/lab for boots with modules=netdevsim) when it is not loaded, creates netdevsim device 10
# with one port when it does not exist, and prints the port's netdev name (eth0 is renamed by
# udev to eni10np1). Idempotent: a second call with another N goes through 0 (N -> M is EBUSY).
# With "fresh", every VF starts as netdevsim makes them (rewriting max_vfs clears their settings,
# which otherwise survive N -> 0 -> N).
#   sh lab/guest/netdevsim.sh [N [MAX [fresh]]]
set -eu
n=${1:-0}
max=${2:-64}
fresh=${3:-}
id=10
dev=/sys/bus/netdevsim/devices/netdevsim$id
fail() { echo "error: netdevsim: $1" >&2; exit 1; }

if [ ! -d /sys/bus/netdevsim ]; then
  ko=${VFIOCTL_LAB_NETDEVSIM:-}
  [ -n "$ko" ] && [ -f "$ko" ] || fail "VFIOCTL_LAB_NETDEVSIM names no module ('$ko'): boot with modules=netdevsim"
  modprobe psample || fail "modprobe psample failed (netdevsim needs it; insmod does not resolve it)"
  insmod "$ko" || fail "insmod $ko failed"
fi
if [ ! -d "$dev" ]; then
  echo "$id 1" > /sys/bus/netdevsim/new_device
  udevadm settle 2>/dev/null || sleep 1
fi
[ -d "$dev" ] || fail "$dev did not appear"
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
knob=/sys/kernel/debug/netdevsim/netdevsim$id/max_vfs
[ -f "$knob" ] || fail "$knob is missing"
current=$(cat "$dev/sriov_numvfs")
if [ "$current" != "$n" ] || [ "$(cat "$knob")" != "$max" ] || [ "$fresh" = fresh ]; then
  [ "$current" = 0 ] || echo 0 > "$dev/sriov_numvfs"
  # The limit can only change while no VF exists (EBUSY otherwise); it clears every VF's settings.
  echo "$max" > "$knob"
  [ "$n" = 0 ] || echo "$n" > "$dev/sriov_numvfs"
fi
[ "$(cat "$dev/sriov_numvfs")" = "$n" ] || fail "sriov_numvfs is $(cat "$dev/sriov_numvfs"), not $n"
udevadm settle 2>/dev/null || true
name=$(ls "$dev/net" 2>/dev/null | head -n 1)
[ -n "$name" ] || fail "no netdev under $dev/net"
ip link set "$name" up
echo "$name"
