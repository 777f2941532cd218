"""User text shown back to the user: quoted short, and never as terminal control codes.

Data files, model files and options can hold any text: a 10-million-character entry, or an escape
sequence such as ``"\\x1b[31m"`` that would recolour (or rewrite) the terminal.  Every error that quotes
such text goes through :func:`quote`, every text written out as data through :func:`escape`."""

from __future__ import annotations

__all__ = ["QUOTE_LIMIT", "LINE_LIMIT", "quote", "escape", "printable", "one_line"]

QUOTE_LIMIT = 200  #: characters of user text quoted in a message
LINE_LIMIT = 4_000  #: characters of a whole message line (a last guard, beyond any message written here)


def escape(text: str) -> str:
    """``text`` with each backslash doubled and each non-printable character written as its escape:
    one printable line, distinct for distinct texts, ``escape("a\\x1b[0m") == "a\\\\x1b[0m"``."""
    return printable(text.replace("\\", "\\\\"))


def printable(text: str) -> str:
    """``text`` with only its non-printable characters escaped (backslashes kept as they are): for
    messages already composed, whose quoted parts :func:`quote` wrote."""
    if text.isprintable():  # the usual case, at C speed
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)  # repr escapes a lone character


def quote(text: object, limit: int = QUOTE_LIMIT) -> str:
    """``text`` quoted as ``repr`` quotes it (one printable line), cut to about ``limit`` characters
    with its length: ``quote("abc") == "'abc'"``, ``'xxxx…' (10,000,000 characters)``; anything but a
    ``str`` as its ``repr``, cut the same way."""
    if not isinstance(text, str):
        shown = printable(repr(text))
        return shown if len(shown) <= limit else f"{shown[:limit]}… ({len(shown):,} characters)"
    if len(text) <= limit:
        shown = repr(text)
        if len(shown) <= limit + 2:
            return shown
    # repr escapes can be four times longer than the characters: cut the escaped form, between escapes
    shown = repr(text[:limit])
    body, i = shown[1:-1], 0
    while i < len(body):
        step = {"x": 4, "u": 6, "U": 10}.get(body[i + 1: i + 2], 2) if body[i] == "\\" else 1
        if i + step > limit:
            break
        i += step
    return f"{shown[0]}{body[:i]}…{shown[-1]} ({len(text):,} characters)"


def one_line(message: str, limit: int = LINE_LIMIT) -> str:
    """A message as one printable line of at most about ``limit`` characters: non-printable
    characters escaped; if still too long, its middle cut with a note (the start says what went
    wrong, the end usually what to do)."""
    line = printable(message)
    if len(line) <= limit:
        return line
    keep = limit // 2
    return f"{line[:keep]} … ({len(line) - 2 * keep:,} characters cut) … {line[-keep:]}"
