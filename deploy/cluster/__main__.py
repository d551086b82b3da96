"""``python -m deploy.cluster up|down|status|ssh HOST [COMMAND...]``."""

from __future__ import annotations

import argparse
import os
import sys

from deploy.cluster import cluster
from deploy.cluster.ansible import LOG_DIR, run_playbook
from deploy.cluster.config import ANSIBLE_DIR, ClusterError, host_named


def _apply_site(timings: cluster.Timings) -> None:
    applied = run_playbook("site.yml")
    timings.steps["first apply"] = applied.seconds
    if applied.returncode != 0:
        print(applied.failure_summary(), file=sys.stderr)  # noqa: T201 (a command-line tool's output)
        raise ClusterError(f"site.yml failed (exit {applied.returncode}); its log is in {LOG_DIR}")


def main() -> int:
    """Run one command; print a one-line error and exit 1 when it fails."""
    parser = argparse.ArgumentParser(prog="python -m deploy.cluster", description="The local six-host cluster.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="build the root if needed, start the hosts, apply site.yml")
    commands.add_parser("down", help="stop the hosts and remove the namespace")
    commands.add_parser("status", help="say what runs and how to reach it")
    ssh = commands.add_parser("ssh", help="open a shell (or run a command) on a host")
    ssh.add_argument("host")
    ssh.add_argument("remote", nargs=argparse.REMAINDER)
    arguments = parser.parse_args()
    try:
        if arguments.command == "up":
            timings = cluster.up()
            # How to reach the hosts first: a failed apply leaves them running, to look at.
            print("\n".join(cluster.status()), flush=True)  # noqa: T201 (a command-line tool's output)
            if (ANSIBLE_DIR / "site.yml").exists():
                _apply_site(timings)
            print(f"seconds: {timings.steps}")  # noqa: T201 (same)
        elif arguments.command == "down":
            cluster.down()
        elif arguments.command == "status":
            print("\n".join(cluster.status()))  # noqa: T201 (same)
        else:
            command = cluster.login_command(host_named(arguments.host), *arguments.remote)
            os.execvp(command[0], command)  # noqa: S606 (replaces this process with the user's ssh session)
    except ClusterError as error:
        print(f"cluster: {error}", file=sys.stderr)  # noqa: T201 (same)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
