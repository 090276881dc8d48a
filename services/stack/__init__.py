"""The native local stack: install, configure, supervise and probe the real servers.

`python -m services.stack up|down|clean|status|logs` (what `make up` etc. call).
"""
