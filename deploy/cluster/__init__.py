"""A local cluster of six Debian 12 containers for the Ansible roles (issue 19).

Run it with ``python -m deploy.cluster up|down|status|ssh HOST`` from the repository root
(``make cluster`` / ``make cluster-down``). See ``deploy/cluster/README.md``.
"""
