"""Subcommands of the ``microgrid`` CLI, one module each (see :mod:`microgrid.app.cli`)."""
