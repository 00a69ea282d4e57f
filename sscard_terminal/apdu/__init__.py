"""The sans-IO APDU core: command.py, response.py, status.py, describe.py.

Import from the submodules; this package module imports nothing so that
:mod:`sscard_terminal.errors` can use the status-word table without a cycle.
"""
