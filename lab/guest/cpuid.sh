#!/bin/sh
# Inside a cpu-* boot: this guest's CPUID dump (vfioctl cpu dump, with the msr module loaded as
# libvirt would read it) and libvirt's host <cpu> (virsh capabilities through the embedded QEMU
# driver) into $VFIOCTL_LAB_OUT/BOOT.xml and BOOT-libvirt.xml, for fixtures/cpuid-qemu.
set -e
out=${VFIOCTL_LAB_OUT:?}
boot=${VFIOCTL_LAB_BOOT:?}
# Debian's libvirt runs QEMU as libvirt-qemu (libvirt-daemon-system makes the user); the guest's
# /etc is an overlay (useradd cannot write its shadow file), so the names are added here.
getent passwd libvirt-qemu >/dev/null || {
  echo 'libvirt-qemu:x:64055:64055::/nonexistent:/usr/sbin/nologin' >> /etc/passwd
  echo 'libvirt-qemu:x:64055:' >> /etc/group
}
modprobe msr
vfioctl cpu dump > "$out/$boot.xml"
mkdir -p "$out/libvirt"
virsh -c "qemu:///embed?root=$out/libvirt" capabilities > "$out/capabilities.xml"
sed -n '/<host>/,/<\/host>/p' "$out/capabilities.xml" | sed -n '/^    <cpu>/,/^    <\/cpu>/p' | sed 's/^    //' > "$out/$boot-libvirt.xml"
vfioctl cpu host --format xml > "$out/$boot-vfioctl.xml"
