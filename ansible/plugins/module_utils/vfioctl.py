# -*- coding: utf-8 -*-
# The one runner every module of vfioctl.host uses: it calls vfioctl with --format json, reads the
# document (docs/json.md, schema_version 1), and turns a failure of vfioctl into a module failure
# that carries vfioctl's 'error:' and 'hint:' lines and its exit status.

import json
import os

# The options every module takes (documented in doc_fragments/common.py).
COMMON_ARGS = dict(
    executable=dict(type='path', default='vfioctl'),
    root=dict(type='path'),
    state_dir=dict(type='path'),
)

SCHEMA_VERSION = 1


class VfioctlFailure(Exception):
    """vfioctl exited with a status the caller did not accept."""

    def __init__(self, cmd, rc, stdout, stderr, document=None):
        super().__init__(rc)
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.document = document


def diagnostics(stderr, level):
    """The text of every 'LEVEL: ...' line vfioctl wrote on stderr, in order."""
    prefix = level + ': '
    return [line[len(prefix):] for line in stderr.splitlines() if line.startswith(prefix)]


def error_findings(document):
    """'subject: message' of each error finding of a refused plan or a failed check."""
    if not isinstance(document, dict):
        return []
    return ['%s: %s' % (f.get('subject'), f.get('message')) for f in document.get('findings') or []
            if isinstance(f, dict) and f.get('severity') == 'error']


class Vfioctl:
    """vfioctl on the managed host, with the module's executable, root and state directory."""

    def __init__(self, module):
        self.module = module
        executable = module.params['executable']
        if os.sep in executable:
            if not os.access(executable, os.X_OK):
                module.fail_json(msg='vfioctl is not an executable file: %s' % executable,
                                 hint='install the vfioctl package, or point executable at the binary')
            self.executable = executable
        else:
            self.executable = module.get_bin_path(executable, required=False, opt_dirs=['/usr/sbin', '/usr/local/sbin'])
            if self.executable is None:
                module.fail_json(msg='%s was not found on the host (PATH, /usr/sbin, /usr/local/sbin)' % executable,
                                 hint='install the vfioctl package on the host, or set executable to its path')

    def command(self, arguments, json_output=True, state_dir=False, root=True):
        """The command line: vfioctl ARGUMENTS [--format json] [--root DIR] [--state-dir DIR]."""
        cmd = [self.executable] + list(arguments)
        if json_output:
            cmd += ['--format', 'json']
        if root and self.module.params.get('root'):
            cmd += ['--root', self.module.params['root']]
        if state_dir and self.module.params.get('state_dir'):
            cmd += ['--state-dir', self.module.params['state_dir']]
        return cmd

    def run(self, arguments, accept=(0,), json_output=True, state_dir=False, root=True, data=None):
        """Runs vfioctl; returns (rc, document or None, stdout, stderr). A status outside
        `accept` raises VfioctlFailure (with the document when stdout held one)."""
        cmd = self.command(arguments, json_output=json_output, state_dir=state_dir, root=root)
        rc, stdout, stderr = self.module.run_command(cmd, data=data, binary_data=data is not None,
                                                     environ_update={'LC_ALL': 'C.UTF-8'})
        document = None
        if json_output and stdout.strip():
            try:
                document = json.loads(stdout)
            except ValueError:
                if rc in accept:
                    self.module.fail_json(msg='vfioctl printed no JSON document for %s' % ' '.join(cmd),
                                          cmd=cmd, rc=rc, stdout=stdout, stderr=stderr)
        if rc not in accept:
            raise VfioctlFailure(cmd, rc, stdout, stderr, document)
        if json_output:
            if not isinstance(document, dict):
                self.module.fail_json(msg='vfioctl printed no JSON document for %s' % ' '.join(cmd),
                                      cmd=cmd, rc=rc, stdout=stdout, stderr=stderr)
            if document.get('schema_version') != SCHEMA_VERSION:
                self.module.fail_json(msg='vfioctl printed schema_version %r; this collection reads %d'
                                      % (document.get('schema_version'), SCHEMA_VERSION), cmd=cmd, rc=rc)
        return rc, document, stdout, stderr

    def fail(self, failure, **result):
        """Ends the module with vfioctl's reasons: its error: and hint: lines, the error
        findings of a refused plan, the exit status."""
        errors = diagnostics(failure.stderr, 'error')
        hints = diagnostics(failure.stderr, 'hint')
        reasons = errors + [f for f in error_findings(failure.document) if f not in ' '.join(errors)]
        if not reasons:
            reasons = [failure.stderr.strip() or failure.stdout.strip() or 'no output']
        msg = 'vfioctl %s failed (exit status %d): %s' % (self.subcommand(failure.cmd), failure.rc, '; '.join(reasons))
        if hints:
            msg += ' (hint: %s)' % '; '.join(hints)
        result.update(msg=msg, rc=failure.rc, cmd=failure.cmd, stdout=failure.stdout, stderr=failure.stderr,
                      error=errors, hint=hints)
        if failure.document is not None:
            result['vfioctl'] = failure.document
        self.module.fail_json(**result)

    @staticmethod
    def subcommand(cmd):
        words = []
        for word in cmd[1:]:
            if word.startswith('-') or '/' in word or len(words) == 2:
                break
            words.append(word)
        return ' '.join(words)


def plan_diff(document, header):
    """Ansible's diff of a changing command's document (detach, reattach, apply, persist apply):
    what changes, per object, then the plan's steps, as vfioctl lists them."""
    lines = ['%s:' % header]
    changes = document.get('changes') or []
    if not changes:
        lines.append('  nothing to change')
    for change in changes:
        lines.append('  ' + describe_change(change))
    plan = document.get('plan') or []
    if plan:
        lines.append('plan:')
        for number, step in enumerate(plan, 1):
            result = '' if step.get('result') in (None, 'planned') else '  (%s)' % step.get('result')
            lines.append('  %2d. %-13s %s  %s%s' % (number, step.get('action'), step.get('path'), step.get('value'), result))
    return '\n'.join(lines) + '\n'


def describe_change(change):
    """One R of docs/json.md in words."""
    kind = change.get('change')
    subject = change.get('object')
    if change.get('vf') is not None:
        subject = '%s vf %s' % (change.get('interface') or subject, change.get('vf'))
    before = change.get('before')
    after = change.get('after')
    name = change.get('name')
    what = '%s %s' % (kind, subject)
    if name and kind not in ('load-module',):
        what += ' ' + name
    if kind == 'binding':
        if change.get('removed'):
            return '%s: removed' % what
        if change.get('new'):
            return '%s: new, on %s' % (what, after or 'no driver')
    if before is None and after is None:
        return what
    return '%s: %s -> %s' % (what, before if before is not None else '-', after if after is not None else '-')
