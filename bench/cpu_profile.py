"""Run a module under cProfile, timed by the process's CPU clock, and write its stats when it exits.

`python bench/cpu_profile.py OUT.prof -m shipyard.worker worker`. `python -m cProfile` times with the
wall clock: on a busy 2-core machine a worker's `socket.send` then absorbs the time the kernel gives
the process it woke (PostgreSQL, the receiver), and the profile blames the socket for other processes'
work. The CPU clock counts only what this process ran.
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    """Profile `-m MODULE ARGS...` into the file named first."""
    out, flag, module, *arguments = sys.argv[1:]
    if flag != "-m":
        sys.exit("usage: cpu_profile.py OUT.prof -m MODULE [ARGS...]")
    sys.argv = [module, *arguments]
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        profile.disable()
        profile.dump_stats(out)


if __name__ == "__main__":
    main()
