"""The ``microgrid`` command line.  Each subcommand's module in ``commands/`` has a
``register(subparsers)`` that adds its parser and sets ``run`` (parsed arguments -> exit status).
User mistakes raise :class:`UsageError` and end as one line on stderr with status 2; Ctrl-C and
SIGTERM, from the moment :func:`main` starts, as one line with status 130 or 143."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from microgrid import __version__
from microgrid.safety.text import QUOTE_LIMIT, one_line, quote

COMMANDS = ("train", "predict", "check", "graph")
DESCRIPTION = ("microgrid: train, check and draw a small neural network on the Wisconsin breast cancer data "
               "with an exact scalar autograd engine.")


class UsageError(Exception):
    """A mistake in the user's input (option, file, data): reported in one line, exit status 2."""


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C, so that half-written outputs are removed."""


# The signals that arrived during the current command: a C extension may raise its own exception
# in place of the handler's (Matplotlib's renderer: "ValueError: Invalid bounding box").
_received: list[int] = []


def _note(signum: int, frame: object) -> None:
    _received.append(signum)
    raise Terminated(signum) if signum == signal.SIGTERM else KeyboardInterrupt


def _catch_signals() -> Callable[[bool], None]:
    """Handle SIGTERM (and Ctrl-C, where Python's own handler has it) by noting the signal and
    unwinding; returns what gives the previous handlers back (``final``: ignores both instead)."""
    _received.clear()
    if threading.current_thread() is not threading.main_thread():  # only it gets signals
        return lambda final: None
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _note)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _note)
    unraisable = sys.unraisablehook
    if hasattr(signal, "setitimer"):  # a signal handled inside a finalizer (which cannot unwind)
        previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, lambda *_: _note(_received[-1], None))

        def again(hook: Any) -> None:  # is raised again 1 ms later, where it can unwind
            if isinstance(hook.exc_value, (KeyboardInterrupt, Terminated)) and _received:
                signal.setitimer(signal.ITIMER_REAL, 0.001)
            else:
                unraisable(hook)

        sys.unraisablehook = again

    def restore(final: bool) -> None:
        sys.unraisablehook = unraisable
        if hasattr(signal, "setitimer"):  # (Windows has neither it nor SIGALRM)
            signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_IGN if final else signal.SIG_DFL if handler is None else handler)
        if final:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    return restore


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help paragraphs filled to the terminal's width, an option name never cut at its hyphen
    (``--no-grad``); a paragraph with indented lines (the examples) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        raw = super()._fill_text
        return "\n\n".join(raw(p, width, indent) if "\n " in f"\n{p}" else
                           textwrap.fill(" ".join(p.split()), width, initial_indent=indent,
                                         subsequent_indent=indent, break_on_hyphens=False)
                           for p in text.split("\n\n"))

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class _Parser(argparse.ArgumentParser):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"formatter_class": _Formatter, **kwargs})

    def error(self, message: str) -> NoReturn:  # one line instead of usage + message
        self.exit(2, one_line(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n")

    # argparse quotes a rejected option value in full (repr): quote it short instead
    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> object:
        try:
            return super()._get_values(action, arg_strings)
        except argparse.ArgumentError as exc:
            message = exc.message
            for arg in arg_strings:
                message = message.replace(repr(arg), quote(arg))
            raise argparse.ArgumentError(action, message) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="microgrid", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"microgrid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)
    for name in COMMANDS:
        importlib.import_module(f"microgrid.app.commands.{name}").register(sub)
    return parser


def _silence_stdout() -> None:
    """Point file descriptor 1 at the null device, so that the interpreter's last flush cannot fail
    again (an "Exception ignored" message and exit status 120)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def console_main() -> NoReturn:
    """The ``microgrid`` program: :func:`main`, then exit.  After a signal that stopped the
    command, the process leaves flushed but without the interpreter's finalization, where a C
    extension whose work the signal cut short (Matplotlib's, loading) can abort it."""
    status = main(final=True)
    if _received:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)
    sys.exit(status)


def main(argv: Sequence[str] | None = None, *, final: bool = False) -> int:
    """Run the ``microgrid`` command line ``argv`` (default: ``sys.argv[1:]``); returns the exit
    status.  ``final``: the process exits right after, so late signals are ignored (see
    :func:`console_main`)."""
    prog = "microgrid"
    restore = _catch_signals()
    try:
        try:
            args, unknown = build_parser().parse_known_args(argv)
            prog = f"microgrid {args.command}"
            if unknown:  # reported by the subcommand, which is the one that did not know them
                given = " ".join(a if len(a) <= QUOTE_LIMIT and a.isprintable() else quote(a)
                                 for a in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
                raise UsageError(f"unrecognized arguments: {given} (see {prog} --help)")
            status = int(args.run(args) or 0)
        except SystemExit as exc:  # --help, --version, or a bad option (already reported in one line)
            status = exc.code if isinstance(exc.code, int) else 2
        except UsageError as exc:
            if _received:
                raise
            print(one_line(f"{prog}: error: {exc}"), file=sys.stderr)
            status = 2
        finally:
            restore(final)
        sys.stdout.flush()  # what is still buffered is written here, where its errors are handled
        return status
    except (KeyboardInterrupt, Terminated) as exc:
        return _stopped(prog, signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
    except Exception as exc:
        if _received:  # whatever was raised, the command was stopped by a signal
            return _stopped(prog, _received[-1])
        failed = _failed(prog, exc)
        if failed is None:
            raise  # a bug: its traceback is what a report needs
        return failed


def _stopped(prog: str, signum: int) -> int:
    print(f"{prog}: {'interrupted' if signum == signal.SIGINT else 'terminated'}", file=sys.stderr)
    return 128 + signum


def _failed(prog: str, exc: Exception) -> int | None:
    """What the machine refused, reported in one line (status 1); ``None`` for anything else."""
    if isinstance(exc, BrokenPipeError):  # the reader went away (``microgrid predict ... | head``)
        _silence_stdout()
        return 1
    if isinstance(exc, MemoryError):  # an estimate fell short, or the machine is busy
        print(f"{prog}: error: out of memory (the machine could not provide what this run needs; "
              "try a smaller network or fewer rows)", file=sys.stderr)
        return 1
    if isinstance(exc, OSError):  # the system refused (disk full, permissions...): say what
        try:
            sys.stdout.flush()
        except OSError:  # stdout itself is what failed (a full disk, a closed pipe)
            _silence_stdout()
        target = f" {exc.filename}" if exc.filename else ""
        print(one_line(f"{prog}: error: cannot complete{target}: {exc.strerror or exc}"), file=sys.stderr)
        return 1
    return None
