#!/usr/bin/python
# -*- coding: utf-8 -*-

DOCUMENTATION = r'''
module: vfioctl_config
short_description: The kernel command line, modprobe.d options and initramfs modules PCI passthrough needs
description:
  - O(cmdline) puts the IOMMU options for the host's CPU vendor on the kernel command line
    (C(vfioctl config cmdline) edits C(/etc/default/grub), a grub.d drop-in, or C(/etc/kernel/cmdline)).
  - O(modprobe) writes C(/etc/modprobe.d/vfio.conf) and C(kvm-nested.conf) (C(vfioctl config modprobe)).
  - O(initramfs) loads the vfio modules from the initramfs (C(vfioctl config initramfs), for
    initramfs-tools, dracut or mkinitcpio).
  - vfioctl shows each file first (C(--format json) without C(--write)) and the module writes
    (C(--write), atomically, the old file kept as C(FILE.vfioctl.bak)) only what would change. A
    second run changes nothing. Check mode writes nothing; diff mode shows vfioctl's diffs.
  - None of it acts before the boot loader or initramfs is regenerated and the host rebooted;
    RV(reboot_required) and RV(regenerate) are for a handler (see the examples).
version_added: 0.1.0
author:
  - vfioctl developers (@vfioctl)
extends_documentation_fragment:
  - vfioctl.host.common
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  cmdline:
    description: Put C(intel_iommu=on iommu=pt) (Intel) or C(iommu=pt) (AMD) on the kernel command line.
    type: bool
    default: false
  initramfs:
    description: Load C(vfio_pci), C(vfio), C(vfio_iommu_type1) from the initramfs.
    type: bool
    default: false
  modprobe:
    description: The modprobe.d options (C(vfioctl config modprobe)); at least one must be set.
    type: dict
    suboptions:
      vfio_ids:
        description: Device IDs vfio-pci claims at boot (C(VVVV:DDDD)); every function with the ID.
        type: list
        elements: str
        default: []
      softdep:
        description: "Host drivers vfio-pci must load before (C(softdep DRIVER pre: vfio-pci))."
        type: list
        elements: str
        default: []
      nested:
        description: Nested virtualization (C(kvm_intel nested=1 enable_shadow_vmcs=1) or C(kvm_amd nested=1)).
        type: bool
        default: false
      allow_unsafe_interrupts:
        description: C(vfio_iommu_type1 allow_unsafe_interrupts=1) - only without interrupt remapping, for trusted guests.
        type: bool
        default: false
      disable_vga:
        description: C(vfio-pci disable_vga=1).
        type: bool
        default: false
      disable_idle_d3:
        description: C(vfio-pci disable_idle_d3=1).
        type: bool
        default: false
      nointxmask:
        description: C(vfio-pci nointxmask=1).
        type: bool
        default: false
      enable_sriov:
        description: C(vfio-pci enable_sriov=1).
        type: bool
        default: false
      disable_denylist:
        description: C(vfio-pci disable_denylist=1).
        type: bool
        default: false
notes:
  - O(state_dir) is not used (these commands keep no state).
'''

EXAMPLES = r'''
- name: IOMMU on, vfio early, the GPU's IDs to vfio-pci, nested guests
  vfioctl.host.vfioctl_config:
    cmdline: true
    initramfs: true
    modprobe:
      vfio_ids: ["10de:1b80", "10de:10f0"]
      softdep: [nouveau]
      nested: true
  register: passthrough_config
  notify: Regenerate and reboot

# In the play's handlers (notified only when something changed):
- name: Regenerate the boot configuration and the initramfs
  listen: Regenerate and reboot
  ansible.builtin.shell: "{{ item }}"
  loop: "{{ passthrough_config.regenerate }}"
  changed_when: true

- name: Reboot
  listen: Regenerate and reboot
  ansible.builtin.reboot:
  when: passthrough_config.reboot_required
'''

RETURN = r'''
reboot_required:
  description: A file changed (or would, in check mode); it acts after RV(regenerate) and a reboot.
  returned: success
  type: bool
  sample: true
regenerate:
  description: The commands that make the boot loader or initramfs pick the files up, for what changed (C(update-grub), C(update-initramfs -u -k all)).
  returned: success
  type: list
  elements: str
  sample: ["update-grub", "update-initramfs -u -k all"]
files:
  description: Each file vfioctl considered, with C(path), C(changed), C(written), C(backup) and C(diff).
  returned: success
  type: list
  elements: dict
notes:
  description: vfioctl's notes (where it writes and why; what to do by hand where it cannot write).
  returned: success
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vfioctl.host.plugins.module_utils.vfioctl import COMMON_ARGS, Vfioctl, VfioctlFailure

MODPROBE_FLAGS = ['nested', 'allow_unsafe_interrupts', 'disable_vga', 'disable_idle_d3', 'nointxmask', 'enable_sriov', 'disable_denylist']


def modprobe_arguments(options):
    arguments = ['config', 'modprobe']
    for ids in options['vfio_ids']:
        arguments += ['--vfio-ids', ids]
    for driver in options['softdep']:
        arguments += ['--softdep', driver]
    for flag in MODPROBE_FLAGS:
        if options[flag]:
            arguments.append('--' + flag.replace('_', '-'))
    return arguments


def main():
    argument_spec = dict(COMMON_ARGS)
    argument_spec.update(
        cmdline=dict(type='bool', default=False),
        initramfs=dict(type='bool', default=False),
        modprobe=dict(type='dict', options=dict(
            vfio_ids=dict(type='list', elements='str', default=[]),
            softdep=dict(type='list', elements='str', default=[]),
            **{flag: dict(type='bool', default=False) for flag in MODPROBE_FLAGS}
        )),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_one_of=[('cmdline', 'initramfs', 'modprobe')])
    params = module.params
    commands = []
    if params['cmdline']:
        commands.append(['config', 'cmdline'])
    if params['modprobe'] is not None:
        commands.append(modprobe_arguments(params['modprobe']))
    if params['initramfs']:
        commands.append(['config', 'initramfs'])
    if not commands:
        module.fail_json(msg='vfioctl_config needs cmdline, initramfs or modprobe')
    vfioctl = Vfioctl(module)
    files, notes, regenerate, diffs = [], [], [], []
    reboot = False
    try:
        for arguments in commands:
            document = vfioctl.run(arguments)[1]
            if any(f['changed'] for f in document['files']) and not module.check_mode:
                document = vfioctl.run(arguments + ['--write'])[1]
            files += document['files']
            notes += document['notes']
            diffs += [f['diff'] for f in document['files'] if f['changed']]
            reboot = reboot or document['reboot']
            if document['regenerate'] and document['regenerate'] not in regenerate:
                regenerate.append(document['regenerate'])
    except VfioctlFailure as failure:
        # What an earlier command wrote stays written: say so.
        vfioctl.fail(failure, changed=any(f['written'] for f in files), files=files)
    changed = any(f['changed'] for f in files)
    module.exit_json(changed=changed, reboot_required=reboot, regenerate=regenerate, files=files, notes=notes,
                     diff={'prepared': ''.join(diffs) or 'nothing to change\n'})


if __name__ == '__main__':
    main()
