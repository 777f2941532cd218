"""The ``microgrid`` command line: ``train``, ``predict``, ``check`` and ``graph``.

Each subcommand lives in ``microgrid/commands/<name>.py`` and provides ``register(subparsers)``,
which adds its parser and sets ``run`` (a function of the parsed arguments returning an exit
status).  User mistakes raise :class:`UsageError` and end as one line on stderr with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from microgrid import __version__

COMMANDS = ("train", "predict", "check", "graph")
DESCRIPTION = ("microgrid: train, check and draw a small neural network on the Wisconsin breast cancer data "
               "with an exact scalar autograd engine.")


class UsageError(Exception):
    """A mistake in the user's input (option, file, data): reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + message
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand."""
    parser = _Parser(prog="microgrid", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"microgrid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"microgrid.commands.{name}")
        except ModuleNotFoundError as exc:  # a command not written yet
            if exc.name == f"microgrid.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``microgrid`` console script."""
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad option (already reported in one line)
        return exc.code if isinstance(exc.code, int) else 2
    if unknown:  # reported by the subcommand, which is the one that did not know them
        prog = f"microgrid {args.command}"
        print(f"{prog}: error: unrecognized arguments: {' '.join(unknown)} (see {prog} --help)",
              file=sys.stderr)
        return 2
    try:
        return int(args.run(args) or 0)
    except UsageError as exc:
        print(f"microgrid {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"microgrid {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``microgrid predict ... | head``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that flushing stdout at exit cannot fail again
        return 1
    except OSError as exc:  # the system refused (disk full, permissions...): say what, no traceback
        target = f" {exc.filename}" if exc.filename else ""
        print(f"microgrid {args.command}: error: cannot complete{target}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
