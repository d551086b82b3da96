"""`python -m shipyard.worker worker|scheduler`: the job processes, without going through cli.py."""

from shipyard.worker_cli import app

app(prog_name="python -m shipyard.worker")
