#!/usr/bin/python
# -*- coding: utf-8 -*-

DOCUMENTATION = r'''
module: vfioctl_persist
short_description: Assignments to vfio-pci that survive a reboot, per function and per IOMMU group
description:
  - O(state=present) records whole IOMMU groups with C(vfioctl persist ADDRESS --write) in
    C(/etc/vfioctl/persist.conf), with the udev rule and the C(vfioctl-persist.service) unit that
    bind them at boot (by address, position and IDs, not C(vfio-pci ids=)).
  - O(state=absent) forgets recorded sets (C(vfioctl persist remove --write)); a set that is not
    recorded is already absent.
  - vfioctl shows each file first (C(--format json) without C(--write)); the module writes only
    when a file would change. In check mode nothing is written; in diff mode the files' diffs are
    shown.
  - It does not bind or unbind now - M(vfioctl.host.vfioctl_detach) does (or a reboot). The result's
    RV(reboot_required) says when the new records act at the next boot.
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
    description: PCI functions, each standing for its whole IOMMU group (with O(state=absent), its whole recorded set).
    type: list
    elements: str
    default: []
  groups:
    description: IOMMU group numbers (with O(state=absent), the recorded sets in those groups).
    type: list
    elements: int
    default: []
  all:
    description: With O(state=absent), every recorded set.
    type: bool
    default: false
  state:
    description: C(present) - recorded; C(absent) - forgotten.
    type: str
    choices: [present, absent]
    default: present
  driver:
    description: With O(state=present), C(vfio-pci) or a vfio-pci variant driver of the functions (C(--driver)).
    type: str
  reset_method:
    description:
      - With O(state=present), the reset methods the udev rule writes to C(reset_method) at boot
        (C(bus), C(flr,pm)), or C(default) to forget the choice (C(--reset-method)).
    type: str
  force:
    description: With O(state=present), record even what the host-critical guard protects (C(--force)).
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: The second GPU goes to vfio-pci at every boot
  vfioctl.host.vfioctl_persist:
    addresses: ["0000:02:00.0"]
  notify: Reboot

- name: Forget it
  vfioctl.host.vfioctl_persist:
    addresses: ["0000:02:00.0"]
    state: absent
'''

RETURN = r'''
files:
  description: Each file vfioctl writes (persist.conf, the udev rule, the unit) with C(path), C(changed), C(written), C(backup) and C(diff).
  returned: success
  type: list
  elements: dict
reboot_required:
  description: A file changed; the records act at the next boot (or bind now with M(vfioctl.host.vfioctl_detach)).
  returned: success
  type: bool
regenerate:
  description: What makes systemd and udev read the new files (C(systemctl daemon-reload ...; udevadm control --reload)), when a file changed.
  returned: success
  type: str
sets:
  description: With O(state=absent), the recorded sets as C(vfioctl persist status --format json) listed them before.
  returned: when state is absent
  type: list
  elements: dict
vfioctl:
  description: vfioctl's document (C(--format json)).
  returned: success
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vfioctl.host.plugins.module_utils.vfioctl import COMMON_ARGS, Vfioctl, VfioctlFailure


def files_diff(document):
    return {'prepared': ''.join(f['diff'] for f in document['files'] if f['changed']) or 'nothing to change\n'}


def recorded(vfioctl, params):
    """The addresses to forget that are recorded (persist remove refuses others), and the sets."""
    sets = vfioctl.run(['persist', 'status'], accept=(0, 1))[1]['sets']
    if params['all']:
        return ([s['set'] for s in sets], sets)
    wanted = []
    for entry in sets:
        members = [f['address'] for f in entry['functions']] + [entry['set']]
        if entry.get('group') in params['groups'] or any(same_function(a, m) for a in params['addresses'] for m in members):
            wanted.append(entry['set'])
    return wanted, sets


def same_function(given, recorded_address):
    """An address as the user wrote it (any of vfioctl's spellings) against vfioctl's own."""
    text = given.strip().lower()
    if text.startswith('pci_'):
        parts = text[4:].split('_')
        if len(parts) == 4:
            text = '%s:%s:%s.%s' % tuple(parts)
    if text.count(':') == 1:
        text = '0000:' + text
    return text == recorded_address.lower()


def main():
    argument_spec = dict(COMMON_ARGS)
    argument_spec.update(
        addresses=dict(type='list', elements='str', default=[]),
        groups=dict(type='list', elements='int', default=[]),
        all=dict(type='bool', default=False),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        driver=dict(type='str'),
        reset_method=dict(type='str'),
        force=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if not params['addresses'] and not params['groups'] and not params['all']:
        module.fail_json(msg='vfioctl_persist needs addresses, groups or (state=absent) all')
    vfioctl = Vfioctl(module)
    result = {}
    try:
        if params['state'] == 'present':
            if params['all']:
                module.fail_json(msg='all is for state=absent; name the addresses or groups to record')
            arguments = ['persist', 'add'] + params['addresses']
            for group in params['groups']:
                arguments += ['--group', str(group)]
            if params['driver']:
                arguments += ['--driver', params['driver']]
            if params['reset_method']:
                arguments += ['--reset-method', params['reset_method']]
            if params['force']:
                arguments.append('--force')
            state_dir = True
        else:
            if params['driver'] or params['reset_method'] or params['force']:
                module.fail_json(msg='driver, reset_method and force are for state=present')
            addresses, result['sets'] = recorded(vfioctl, params)
            if not addresses:
                module.exit_json(changed=False, files=[], reboot_required=False, regenerate=None, diff={'prepared': 'nothing recorded to forget\n'},
                                 **result)
            arguments = ['persist', 'remove'] + addresses
            state_dir = False
        document = vfioctl.run(arguments, state_dir=state_dir)[1]
        changed = any(f['changed'] for f in document['files'])
        diff = files_diff(document)
        if changed and not module.check_mode:
            document = vfioctl.run(arguments + ['--write'], state_dir=state_dir)[1]
    except VfioctlFailure as failure:
        vfioctl.fail(failure, changed=False)
    module.exit_json(changed=changed, files=document['files'], reboot_required=document['reboot'],
                     regenerate=document['regenerate'], vfioctl=document, diff=diff, **result)


if __name__ == '__main__':
    main()
