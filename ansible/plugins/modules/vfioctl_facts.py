#!/usr/bin/python
# -*- coding: utf-8 -*-

DOCUMENTATION = r'''
module: vfioctl_facts
short_description: PCI functions, IOMMU groups, passthrough check findings and the CPU of a KVM host, from vfioctl
description:
  - Reads what vfioctl sees on the host and sets it as the fact C(vfioctl), each part as vfioctl's
    JSON document describes it (vfioctl's docs/json.md).
  - C(inventory) is C(vfioctl list), C(groups) is C(vfioctl groups), C(check) is C(vfioctl check)
    (the host's own findings, or those of O(check_targets)), C(cpu) is C(vfioctl cpu host) in JSON
    and in libvirt's XML (the input of C(vfioctl cpu baseline) and C(cpu compare), see
    M(vfioctl.host.vfioctl_cpu)).
  - A check verdict of C(fail) is a fact, not a failure of the module.
version_added: 0.1.0
author:
  - vfioctl developers (@vfioctl)
extends_documentation_fragment:
  - vfioctl.host.common
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
options:
  gather:
    description:
      - Which parts to read.
      - C(cpu) needs libvirt's CPU map on the host (C(/usr/share/libvirt/cpu_map), Debian package
        libvirt0) or O(cpu_map).
    type: list
    elements: str
    choices: [inventory, groups, check, cpu]
    default: [inventory, groups, check, cpu]
  check_targets:
    description:
      - PCI functions (any spelling vfioctl takes, C(0000:01:00.0), C(01:00.0), C(pci_0000_01_00_0))
        whose groups C(vfioctl check) also checks; empty checks the host only.
    type: list
    elements: str
    default: []
  check_nested:
    description: Also report nested virtualization (C(vfioctl check --nested)).
    type: bool
    default: false
  cpu_map:
    description: libvirt's CPU map directory, instead of C(usr/share/libvirt/cpu_map) under the root.
    type: path
'''

EXAMPLES = r'''
- name: Read what vfioctl sees
  vfioctl.host.vfioctl_facts:

- name: Show the host's check findings that are errors
  ansible.builtin.debug:
    msg: "{{ ansible_facts.vfioctl.check.findings | selectattr('severity', 'equalto', 'error') | list }}"

- name: Only the IOMMU groups and whether the GPU can be assigned
  vfioctl.host.vfioctl_facts:
    gather: [groups, check]
    check_targets: ["0000:01:00.0"]

- name: Fail when the GPU's group cannot go to a guest
  ansible.builtin.assert:
    that: ansible_facts.vfioctl.check.verdict == 'pass'
    fail_msg: "{{ ansible_facts.vfioctl.check.findings | selectattr('severity', 'equalto', 'error') | map(attribute='message') | list }}"
'''

RETURN = r'''
ansible_facts:
  description: The fact C(vfioctl).
  returned: always
  type: complex
  contains:
    vfioctl:
      description: What vfioctl read, one key per part gathered.
      returned: always
      type: complex
      contains:
        functions:
          description: Every PCI function (C(vfioctl list --format json), key C(functions)), sorted by address.
          returned: when inventory is gathered
          type: list
          elements: dict
          sample: [{"address": "0000:01:00.0", "driver": "e1000e", "iommu_group": 14, "vendor_id": "8086", "device_id": "10d3"}]
        mdevs:
          description: The active mediated devices (C(vfioctl list), key C(mdevs)).
          returned: when inventory is gathered
          type: list
          elements: dict
        groups:
          description: Every IOMMU group with its functions (C(vfioctl groups --format json), key C(groups)).
          returned: when groups are gathered
          type: list
          elements: dict
          sample: [{"id": 14, "type": "DMA", "functions": [{"address": "0000:01:00.0"}]}]
        iommu:
          description: The IOMMU (C(vfioctl groups), key C(iommu)) - whether it is on, its kind, units and why not.
          returned: when groups are gathered
          type: dict
          sample: {"enabled": true, "kind": "intel", "group_count": 23, "units": ["dmar0"], "finding": null}
        check:
          description: C(vfioctl check --format json) - C(verdict) (C(pass) or C(fail)), C(findings), C(groups), C(targets).
          returned: when check is gathered
          type: dict
          sample: {"verdict": "pass", "findings": [{"id": "iommu.enabled", "severity": "info", "subject": "host"}]}
        cpu:
          description: The host's CPU (C(vfioctl cpu host --format json), key C(cpu)) - model, vendor, features, source.
          returned: when cpu is gathered
          type: dict
          sample: {"model": "Skylake-Server-IBRS", "vendor": "Intel", "source": "cpuid", "features": ["ss", "vmx"]}
        cpu_xml:
          description: The same CPU as libvirt's host C(<cpu>) (C(vfioctl cpu host --format xml)), for M(vfioctl.host.vfioctl_cpu).
          returned: when cpu is gathered
          type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vfioctl.host.plugins.module_utils.vfioctl import COMMON_ARGS, Vfioctl, VfioctlFailure


def main():
    argument_spec = dict(COMMON_ARGS)
    argument_spec.update(
        gather=dict(type='list', elements='str', choices=['inventory', 'groups', 'check', 'cpu'],
                    default=['inventory', 'groups', 'check', 'cpu']),
        check_targets=dict(type='list', elements='str', default=[]),
        check_nested=dict(type='bool', default=False),
        cpu_map=dict(type='path'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    vfioctl = Vfioctl(module)
    gather = module.params['gather']
    facts = {}
    try:
        if 'inventory' in gather:
            document = vfioctl.run(['list'])[1]
            facts['functions'] = document['functions']
            facts['mdevs'] = document.get('mdevs', [])
        if 'groups' in gather:
            document = vfioctl.run(['groups'])[1]
            facts['groups'] = document['groups']
            facts['iommu'] = document['iommu']
        if 'check' in gather:
            arguments = ['check'] + module.params['check_targets']
            if module.params['check_nested']:
                arguments.append('--nested')
            # Exit 2 is the verdict 'fail', a fact like 'pass'.
            document = vfioctl.run(arguments, accept=(0, 2))[1]
            facts['check'] = {key: value for key, value in document.items() if key != 'schema_version'}
        if 'cpu' in gather:
            cpu_map = ['--cpu-map', module.params['cpu_map']] if module.params['cpu_map'] else []
            facts['cpu'] = vfioctl.run(['cpu', 'host'] + cpu_map)[1]['cpu']
            facts['cpu_xml'] = vfioctl.run(['cpu', 'host', '--format', 'xml'] + cpu_map, json_output=False)[2]
    except VfioctlFailure as failure:
        vfioctl.fail(failure)
    module.exit_json(changed=False, ansible_facts={'vfioctl': facts})


if __name__ == '__main__':
    main()
