#!/usr/bin/python
# -*- coding: utf-8 -*-

DOCUMENTATION = r'''
module: vfioctl_detach
short_description: Hand whole IOMMU groups to vfio-pci for guests, or give them back to their host drivers
description:
  - O(state=present) runs C(vfioctl detach) (every endpoint of each group to vfio-pci or its
    vfio-pci variant driver, journaled, rolled back on failure); O(state=absent) runs C(vfioctl
    reattach) (each function back to the driver it had before vfioctl detached it).
  - vfioctl plans first (C(--dry-run --format json)); when the plan changes nothing (the groups
    are already so) the module reports C(changed=false) and does not run it.
  - vfioctl's guards refuse what the host needs (its root disk, a NIC in use, the console) and a
    group a guest holds open; the module then fails with vfioctl's findings and changes nothing.
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
  addresses:
    description:
      - PCI functions, each standing for its whole IOMMU group (C(0000:01:00.0), C(01:00.0) or
        libvirt's C(pci_0000_01_00_0)).
    type: list
    elements: str
    default: []
  groups:
    description: IOMMU group numbers.
    type: list
    elements: int
    default: []
  all:
    description: With O(state=absent), every function vfioctl detached (C(vfioctl reattach --all)).
    type: bool
    default: false
  state:
    description: C(present) - detached for guests (on vfio); C(absent) - back on the host drivers.
    type: str
    choices: [present, absent]
    default: present
  driver:
    description:
      - With O(state=present), C(vfio-pci) or a vfio-pci variant driver of the functions
        (C(--driver)); default the best variant, as libvirt picks it, else vfio-pci.
    type: str
  force:
    description: With O(state=present), detach even what the host-critical guard protects (C(--force)).
    type: bool
    default: false
  wait:
    description: Seconds to wait for another vfioctl that holds the lock (C(--wait)).
    type: float
    default: 30
'''

EXAMPLES = r'''
- name: A GPU and its audio function (one IOMMU group) for a guest
  vfioctl.host.vfioctl_detach:
    addresses: ["0000:01:00.0"]

- name: Groups 14 and 17 back to their host drivers
  vfioctl.host.vfioctl_detach:
    groups: [14, 17]
    state: absent

- name: Everything vfioctl detached back to the host
  vfioctl.host.vfioctl_detach:
    all: true
    state: absent
'''

RETURN = r'''
changes:
  description: What vfioctl changed (or, in check mode, would change), one entry per object (C(changes) of vfioctl's detach or reattach document).
  returned: success
  type: list
  elements: dict
  sample: [{"change": "binding", "object": "0000:01:00.0", "before": "nouveau", "after": "vfio-pci"}]
plan:
  description: Every step of vfioctl's plan, with C(action), C(path), C(value) and C(result).
  returned: success
  type: list
  elements: dict
functions:
  description: Each function of the groups with C(driver_before) and C(driver_after).
  returned: success
  type: list
  elements: dict
vfioctl:
  description: vfioctl's whole detach or reattach document (C(--format json)).
  returned: success, and on a refusal
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vfioctl.host.plugins.module_utils.vfioctl import COMMON_ARGS, Vfioctl, VfioctlFailure, plan_diff


def main():
    argument_spec = dict(COMMON_ARGS)
    argument_spec.update(
        addresses=dict(type='list', elements='str', default=[]),
        groups=dict(type='list', elements='int', default=[]),
        all=dict(type='bool', default=False),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        driver=dict(type='str'),
        force=dict(type='bool', default=False),
        wait=dict(type='float', default=30),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if not params['addresses'] and not params['groups'] and not params['all']:
        module.fail_json(msg='vfioctl_detach needs addresses, groups or (state=absent) all')
    if params['state'] == 'present' and params['all']:
        module.fail_json(msg='all is for state=absent (reattach --all); name the addresses or groups to detach')
    if params['state'] == 'absent' and (params['driver'] or params['force']):
        module.fail_json(msg='driver and force are for state=present (detach)')
    vfioctl = Vfioctl(module)
    command = 'detach' if params['state'] == 'present' else 'reattach'
    arguments = [command] + params['addresses']
    for group in params['groups']:
        arguments += ['--group', str(group)]
    if params['all']:
        arguments.append('--all')
    if params['driver']:
        arguments += ['--driver', params['driver']]
    if params['force']:
        arguments.append('--force')
    arguments += ['--wait', str(params['wait'])]
    try:
        document = vfioctl.run(arguments + ['--dry-run'], state_dir=True)[1]
        changed = bool(document['changes'])
        diff = {'prepared': plan_diff(document, command)}
        if changed and not module.check_mode:
            document = vfioctl.run(arguments, state_dir=True)[1]
            changed = bool(document['changes'])
    except VfioctlFailure as failure:
        vfioctl.fail(failure, changed=False)
    module.exit_json(changed=changed, changes=document['changes'], plan=document['plan'],
                     functions=document.get('functions', []), vfioctl=document, diff=diff)


if __name__ == '__main__':
    main()
