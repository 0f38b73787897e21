# Inside a lab guest: installs the vfio-pci variant driver built by scripts/lab-vfiovariant
# (VFIOCTL_LAB_VFIOVARIANT, set by scripts/lab for boots with modules=vfiovariant: a tar of
# updates/e1000e_vfio_pci.ko and the index depmod made of the kernel's modules with it) into the
# running kernel's module directory, as a package install would: the guest's /lib/modules/RELEASE
# (this machine's, shared read-only) gets a writable overlay in memory, and the module and
# depmod's modules.alias, modules.alias.bin, modules.dep ... go there. (depmod itself runs on the
# host: over 4,000 modules on 9p under TCG it does not finish in the lab's time.) So vfioctl (no
# --root) reads the variant's `alias vfio_pci:...` from the kernel's modules.alias, and modprobe
# loads it by name. Nothing outside the guest changes. Idempotent. Prints the module directory.
#   sh lab/guest/vfiovariant.sh
set -eu
fail() { echo "error: vfiovariant: $1" >&2; exit 1; }
release=$(uname -r)
dir=/lib/modules/$release
name=e1000e_vfio_pci
if [ ! -f "$dir/updates/$name.ko" ]; then
  ko=${VFIOCTL_LAB_VFIOVARIANT:-}
  [ -n "$ko" ] && [ -f "$ko" ] || fail "VFIOCTL_LAB_VFIOVARIANT names no module bundle ('$ko'): boot with modules=vfiovariant"
  work=/run/vfioctl-vfiovariant
  mkdir -p "$work"
  mountpoint -q "$work" || mount -t tmpfs tmpfs "$work"
  mkdir -p "$work/upper" "$work/work"
  mount -t overlay overlay -o "lowerdir=$dir,upperdir=$work/upper,workdir=$work/work" "$dir" \
    || fail "could not put a writable overlay on $dir"
  tar -xf "$ko" -C "$dir" || fail "could not unpack $ko into $dir"
fi
grep -q "^alias vfio_pci:v00008086d000010D3sv\*sd\*bc\*sc\*i\* $name\$" "$dir/modules.alias" \
  || fail "depmod wrote no vfio_pci alias for $name in $dir/modules.alias"
echo "$dir"
