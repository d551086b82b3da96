"""Run a command under the seccomp rules a systemd unit declares, without systemd.

The machines that run the suite have no systemd as PID 1, so `systemd-run -p ...` is not an
option. This reproduces the seccomp part of a unit's sandbox with libseccomp (through ctypes),
the same way systemd builds it:

- `SystemCallFilter=` lines, in order, with the groups expanded by `systemd-analyze
  syscall-filter`; anything outside the allow-list fails with `SystemCallErrorNumber=`;
- `RestrictAddressFamilies=`: socket() of any other family fails with EAFNOSUPPORT;
- `MemoryDenyWriteExecute=yes`: mmap(PROT_WRITE|PROT_EXEC), mprotect/pkey_mprotect(PROT_EXEC)
  and shmat(SHM_EXEC) fail with EPERM, as in systemd's seccomp_memory_deny_write_execute();
- `NoNewPrivileges=yes` (libseccomp sets it before loading a filter).

Mount-namespace settings (ProtectSystem=, PrivateTmp=, ProcSubset=, ...) are not reproduced.

Used as a script: `python sandbox.py POLICY.json -- COMMAND...` installs the filters, then
execs COMMAND.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4
SCMP_CMP_MASKED_EQ = 7
PROT_WRITE = 0x2
PROT_EXEC = 0x4
SHM_EXEC = 0o100000
FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17}
AF_MAX = 46


def scmp_act_errno(code: int) -> int:
    """libseccomp's SCMP_ACT_ERRNO(code)."""
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


@dataclass
class Policy:
    """The seccomp-relevant part of a unit."""

    allow: list[str]
    errno_code: int = errno.EPERM
    address_families: list[int] = field(default_factory=list)
    memory_deny_write_execute: bool = False


def syscall_groups() -> dict[str, list[str]]:
    """`@group` -> its members (system calls and nested groups), from systemd-analyze."""
    output = subprocess.run(
        ["systemd-analyze", "syscall-filter"],  # noqa: S607 - the systemd tool, from PATH
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.startswith("    ") and current is not None:
            entry = line.strip()
            if entry and not entry.startswith("#"):
                current.append(entry)
        else:
            current = None
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    """System call names in `names`, with groups expanded recursively."""
    found: set[str] = set()
    for name in names:
        if name.startswith("@"):
            found |= expand(groups[name], groups)
        else:
            found.add(name)
    return found


def policy_from_unit(unit: Path, *, drop: tuple[str, ...] = ()) -> Policy:
    """The seccomp policy `unit` declares; `drop` removes filter lines (to show why they exist)."""
    # Imported here: as a script (below) this file runs without the repository on sys.path.
    from tests.fixtures.units import unit_directives

    groups = syscall_groups()
    allowed: set[str] | None = None
    policy = Policy(allow=[])
    for key, value in unit_directives(unit):
        if key == "SystemCallFilter" and value not in drop:
            negate = value.startswith("~")
            names = expand(value.removeprefix("~").split(), groups)
            if allowed is None:
                if negate:
                    msg = "only allow-list filters are reproduced"
                    raise ValueError(msg)
                allowed = set()
            allowed = allowed - names if negate else allowed | names
        elif key == "SystemCallErrorNumber":
            policy.errno_code = getattr(errno, value)
        elif key == "RestrictAddressFamilies":
            policy.address_families = [FAMILIES[name] for name in value.split()]
        elif key == "MemoryDenyWriteExecute":
            policy.memory_deny_write_execute = value in {"yes", "true", "1"}
    policy.allow = sorted(allowed or ())
    return policy


def write_policy(policy: Policy, path: Path) -> Path:
    """Store `policy` for the script below."""
    path.write_text(json.dumps(asdict(policy)))
    return path


class _Seccomp:
    def __init__(self) -> None:
        self.lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
        self.lib.seccomp_init.restype = ctypes.c_void_p
        self.lib.seccomp_init.argtypes = [ctypes.c_uint32]
        self.lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        self.lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(_ArgCmp),
        ]
        self.lib.seccomp_load.argtypes = [ctypes.c_void_p]
        self.lib.seccomp_release.argtypes = [ctypes.c_void_p]

    def number(self, name: str) -> int:
        return int(self.lib.seccomp_syscall_resolve_name(name.encode()))

    def load(self, default: int, rules: list[tuple[int, str, list[tuple[int, int, int, int]]]]) -> None:
        ctx = self.lib.seccomp_init(default)
        try:
            for action, name, comparisons in rules:
                number = self.number(name)
                if number < 0:
                    continue  # not a system call on this architecture
                array = (_ArgCmp * max(len(comparisons), 1))(*[_ArgCmp(*c) for c in comparisons])
                if self.lib.seccomp_rule_add_array(ctx, action, number, len(comparisons), array) != 0:
                    msg = f"seccomp_rule_add({name}) failed"
                    raise OSError(msg)
            if self.lib.seccomp_load(ctx) != 0:
                msg = "seccomp_load failed"
                raise OSError(msg)
        finally:
            self.lib.seccomp_release(ctx)


def install(policy: Policy) -> None:
    """Load the policy's filters into this process (inherited by everything it execs)."""
    seccomp = _Seccomp()
    eperm = scmp_act_errno(errno.EPERM)
    if policy.memory_deny_write_execute:
        seccomp.load(
            SCMP_ACT_ALLOW,
            [
                (eperm, "mmap", [(2, SCMP_CMP_MASKED_EQ, PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC)]),
                (eperm, "mprotect", [(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)]),
                (eperm, "pkey_mprotect", [(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)]),
                (eperm, "shmat", [(2, SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC)]),
            ],
        )
    if policy.address_families:
        refuse = scmp_act_errno(errno.EAFNOSUPPORT)
        seccomp.load(
            SCMP_ACT_ALLOW,
            [
                (refuse, "socket", [(0, SCMP_CMP_EQ, family, 0)])
                for family in range(AF_MAX)
                if family not in policy.address_families
            ],
        )
    # Last: this one may forbid the seccomp() call that loading another filter needs.
    seccomp.load(scmp_act_errno(policy.errno_code), [(SCMP_ACT_ALLOW, name, []) for name in policy.allow])


def main(argv: list[str]) -> None:
    """`sandbox.py POLICY.json -- COMMAND...`."""
    separator = argv.index("--")
    policy = Policy(**json.loads(Path(argv[1]).read_text()))
    command = argv[separator + 1 :]
    install(policy)
    os.execv(command[0], command)  # noqa: S606 - the point: become the sandboxed command


if __name__ == "__main__":
    main(sys.argv)
