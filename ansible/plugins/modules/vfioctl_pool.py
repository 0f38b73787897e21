#!/usr/bin/python
# -*- coding: utf-8 -*-

DOCUMENTATION = r'''
module: vfioctl_pool
short_description: Make a KVM host match a vfioctl pool file (SR-IOV VFs, their drivers and settings, devices to detach)
description:
  - Runs C(vfioctl apply) on a pool file (vfioctl's docs/pools.md) given as its text
    (O(content)), as data (O(spec)) or as a file on the host (O(path)).
  - vfioctl plans first (C(apply --dry-run --format json)); when the plan changes nothing the module
    reports C(changed=false) and does not run it, otherwise it runs C(vfioctl apply) (one journaled
    plan, rolled back on failure) and reports what vfioctl changed.
  - In check mode only the dry run is made. In diff mode the module shows vfioctl's plan.
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
  state:
    description: C(present) makes the host match the pool file. PFs the file does not name are left alone.
    type: str
    choices: [present]
    default: present
  content:
    description: The pool file's text, TOML or YAML as O(format) says.
    type: str
  spec:
    description:
      - The pool file as data (the keys of vfioctl's pool files, C(pf) and C(detach)), handed to
        vfioctl as a YAML file.
    type: dict
  path:
    description: A pool file on the host (C(.toml), C(.yaml) or C(.yml)), e.g. C(/etc/vfioctl/pools.toml).
    type: path
  format:
    description: The format of O(content).
    type: str
    choices: [toml, yaml]
    default: toml
  wait:
    description: Seconds to wait for another vfioctl that holds the lock (C(--wait)).
    type: float
    default: 30
'''

EXAMPLES = r'''
- name: Eight VFs on vfio-pci for guests, two left to the host on another VLAN
  vfioctl.host.vfioctl_pool:
    content: |
      [[pf]]
      device = "enp5s0f0"
      vfs = 8
      driver = "vfio-pci"
      mac = "auto"
      vlan = 100
      spoofchk = true

      [[pf.vf]]
      index = "6-7"
      driver = "host"
      vlan = 200

- name: The same pool as data, and a GPU's group for a guest
  vfioctl.host.vfioctl_pool:
    spec:
      pf:
        - device: enp5s0f0
          vfs: 8
          driver: vfio-pci
      detach:
        devices: ["0000:03:00.0"]

- name: The file the boot unit (vfioctl-pools.service) applies
  vfioctl.host.vfioctl_pool:
    path: /etc/vfioctl/pools.toml
'''

RETURN = r'''
changes:
  description: What vfioctl changed (or, in check mode, would change), one entry per object (the C(changes) of vfioctl's apply document).
  returned: success
  type: list
  elements: dict
  sample: [{"change": "vf-count", "object": "0000:05:00.0", "name": "sriov_numvfs", "before": "0", "after": "8"}]
plan:
  description: Every step of vfioctl's plan, with C(action), C(path), C(value) and C(result).
  returned: success
  type: list
  elements: dict
vfioctl:
  description: vfioctl's whole apply document (C(--format json)), of the run, or of the dry run when nothing ran.
  returned: success, and on a refusal
  type: dict
'''

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vfioctl.host.plugins.module_utils.vfioctl import COMMON_ARGS, Vfioctl, VfioctlFailure, plan_diff


def pool_file(module):
    """The pool file to apply: a path on the host, or the text written to a temporary file (in the
    module's temporary directory, which Ansible removes)."""
    params = module.params
    if params['path']:
        return params['path']
    if params['spec'] is not None:
        # JSON is YAML: vfioctl reads it as a .yaml file.
        text, suffix = json.dumps(params['spec'], indent=2, sort_keys=True) + '\n', '.yaml'
    else:
        text, suffix = params['content'], '.' + params['format']
    directory = tempfile.mkdtemp(prefix='vfioctl-pool-', dir=module.tmpdir)
    name = os.path.join(directory, 'pool' + suffix)
    with open(name, 'w') as handle:
        handle.write(text)
    return name


def main():
    argument_spec = dict(COMMON_ARGS)
    argument_spec.update(
        state=dict(type='str', choices=['present'], default='present'),
        content=dict(type='str'),
        spec=dict(type='dict'),
        path=dict(type='path'),
        format=dict(type='str', choices=['toml', 'yaml'], default='toml'),
        wait=dict(type='float', default=30),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[('content', 'spec', 'path')], required_one_of=[('content', 'spec', 'path')])
    vfioctl = Vfioctl(module)
    path = pool_file(module)
    arguments = ['apply', path, '--wait', str(module.params['wait'])]
    try:
        document = vfioctl.run(arguments + ['--dry-run'], state_dir=True)[1]
        changed = bool(document['changes'])
        diff = {'prepared': plan_diff(document, 'apply ' + (module.params['path'] or 'pool'))}
        if changed and not module.check_mode:
            document = vfioctl.run(arguments, state_dir=True)[1]
            changed = bool(document['changes'])
    except VfioctlFailure as failure:
        vfioctl.fail(failure, changed=False)
    module.exit_json(changed=changed, changes=document['changes'], plan=document['plan'], vfioctl=document, diff=diff)


if __name__ == '__main__':
    main()
