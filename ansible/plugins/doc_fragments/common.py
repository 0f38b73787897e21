# -*- coding: utf-8 -*-
# The options every vfioctl.host module takes.


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  executable:
    description:
      - The vfioctl program on the managed host.
      - A name is looked up on E(PATH), then in C(/usr/sbin) and C(/usr/local/sbin) (the Debian
        package installs C(/usr/sbin/vfioctl)); a path is used as it is.
    type: path
    default: vfioctl
  root:
    description:
      - Read (and, for the configuration files, write) the host under this directory instead of
        C(/), as vfioctl's C(--root) does. For a snapshot taken with C(vfioctl snapshot DIR) or a
        test tree.
      - Under a root that is not C(/) vfioctl can only plan sysfs changes (detach, reattach,
        apply). A module that would change devices there fails with vfioctl's reason; check mode,
        and runs with nothing to change, work.
    type: path
  state_dir:
    description:
      - Where vfioctl keeps its lock, journal and records (vfioctl's C(--state-dir); default
        C(/var/lib/vfioctl) under the root).
      - Used by the modules whose vfioctl command takes it.
    type: path
notes:
  - Every module runs vfioctl with C(--format json) and reads its documents (vfioctl's
    docs/json.md, C(schema_version) 1). When vfioctl fails, the module fails with vfioctl's
    C(error:) and C(hint:) lines (returned as C(error) and C(hint)), its exit status
    (C(rc)) and, for a refused plan, the error findings.
requirements:
  - vfioctl on the managed host (the Debian package, or C(scripts/install) from its repository).
'''
