#!/usr/bin/python
# -*- coding: utf-8 -*-

DOCUMENTATION = r'''
module: vfioctl_cpu
short_description: The CPU a pool of KVM hosts can all run, and whether a host runs it (vfioctl cpu baseline, compare)
description:
  - O(baseline) computes, as C(virsh cpu-baseline) does, the CPU every given host CPU can run
    (C(vfioctl cpu baseline --format json)); each CPU is libvirt's host C(<cpu>) XML as
    M(vfioctl.host.vfioctl_facts) returns it (C(cpu_xml)) or C(vfioctl cpu host --format xml)
    prints it, or a CPUID dump (C(vfioctl cpu dump)).
  - O(compare) says whether this host can run a CPU (C(vfioctl cpu compare --format json)) -
    C(identical), C(superset) or C(incompatible) with the missing features. C(incompatible) is a
    result, not a failure (the playbook decides).
  - The CPUs are written to temporary files on the host for vfioctl and removed afterwards;
    nothing on the host changes.
  - playbooks/cpu_baseline.yml in this collection gathers every host's CPU, baselines the pool
    once and compares each host with the baseline.
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
    support: none
  platform:
    platforms: posix
options:
  baseline:
    description: The host CPUs of the pool (XML text, one per host).
    type: list
    elements: str
  compare:
    description: The CPU this host must run (XML text), e.g. the pool's baseline (RV(xml)).
    type: str
  features:
    description: With O(baseline), list every feature of the model too (C(--features)).
    type: bool
    default: false
  migratable:
    description: With O(baseline), leave out features that block migration (C(--migratable)).
    type: bool
    default: false
  cpu_map:
    description: libvirt's CPU map directory, instead of C(usr/share/libvirt/cpu_map) under the root.
    type: path
notes:
  - O(state_dir) is not used.
'''

EXAMPLES = r'''
- name: Each host's CPU
  vfioctl.host.vfioctl_facts:
    gather: [cpu]

- name: The pool's baseline, computed once
  vfioctl.host.vfioctl_cpu:
    baseline: "{{ ansible_play_hosts | map('extract', hostvars, ['ansible_facts', 'vfioctl', 'cpu_xml']) | list }}"
  run_once: true
  register: pool_cpu

- name: Can each host run it
  vfioctl.host.vfioctl_cpu:
    compare: "{{ pool_cpu.xml }}"
  register: fit

- name: Fail the hosts that cannot
  ansible.builtin.assert:
    that: fit.compatible
    fail_msg: "{{ inventory_hostname }} lacks {{ fit.missing_features | join(', ') }}"
'''

RETURN = r'''
xml:
  description: With O(baseline), the baseline C(<cpu mode='custom' match='exact'>) as C(virsh cpu-baseline) prints it, for the guests' domain XML.
  returned: when baseline is given
  type: str
cpu:
  description: With O(baseline), the baseline as vfioctl's JSON (C(model), C(vendor), C(fallback), C(features) with their C(policy)).
  returned: when baseline is given
  type: dict
  sample: {"mode": "custom", "match": "exact", "model": "Skylake-Server-IBRS", "vendor": "Intel", "fallback": "forbid", "features": []}
result:
  description: With O(compare), libvirt's answer - C(identical), C(superset) or C(incompatible).
  returned: when compare is given
  type: str
compatible:
  description: With O(compare), this host can run the CPU (C(identical) or C(superset)).
  returned: when compare is given
  type: bool
missing_features:
  description: With O(compare), what the CPU needs and this host lacks.
  returned: when compare is given
  type: list
  elements: str
vfioctl:
  description: vfioctl's whole document (C(cpu baseline) or C(cpu compare), C(--format json)).
  returned: success
  type: dict
'''

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vfioctl.host.plugins.module_utils.vfioctl import COMMON_ARGS, Vfioctl, VfioctlFailure


def write_cpus(module, texts):
    directory = tempfile.mkdtemp(prefix='vfioctl-cpu-', dir=module.tmpdir)
    paths = []
    for number, text in enumerate(texts, 1):
        path = os.path.join(directory, 'cpu-%d.xml' % number)
        with open(path, 'w') as handle:
            handle.write(text)
        paths.append(path)
    return directory, paths


def main():
    argument_spec = dict(COMMON_ARGS)
    argument_spec.update(
        baseline=dict(type='list', elements='str'),
        compare=dict(type='str'),
        features=dict(type='bool', default=False),
        migratable=dict(type='bool', default=False),
        cpu_map=dict(type='path'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[('baseline', 'compare')], required_one_of=[('baseline', 'compare')])
    params = module.params
    vfioctl = Vfioctl(module)
    cpu_map = ['--cpu-map', params['cpu_map']] if params['cpu_map'] else []
    if params['baseline'] is not None:
        if not params['baseline']:
            module.fail_json(msg='baseline needs at least one CPU')
        directory, paths = write_cpus(module, params['baseline'])
        arguments = ['cpu', 'baseline'] + paths + cpu_map
        arguments += ['--features'] if params['features'] else []
        arguments += ['--migratable'] if params['migratable'] else []
        accept = (0,)
    else:
        directory, paths = write_cpus(module, [params['compare']])
        arguments = ['cpu', 'compare'] + paths + cpu_map
        accept = (0, 2)
    try:
        document = vfioctl.run(arguments, accept=accept)[1]
    except VfioctlFailure as failure:
        vfioctl.fail(failure, changed=False)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if params['baseline'] is not None:
        module.exit_json(changed=False, xml=document['xml'], cpu=document['cpu'], vfioctl=document)
    module.exit_json(changed=False, result=document['result'], compatible=document['result'] in ('identical', 'superset'),
                     missing_features=document['missing_features'], vfioctl=document)


if __name__ == '__main__':
    main()
