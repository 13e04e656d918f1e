"""The one exception type that reaches users as a one-line message."""

from __future__ import annotations


class NasError(Exception):
    """A problem with the user's input or environment (bad architecture, missing file, ...).

    The CLI prints ``nas: error: <message>`` and exits with status 2; library callers can
    catch it like any exception. Messages name the problem and, where useful, the fix.
    """


def quoted(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters with the full length said: for messages about huge inputs.

    >>> quoted("x" * 1000, 10)
    "'xxxxxxxx... (1000 characters)"
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} characters" if isinstance(value, (str, bytes)) else f"{len(text)} characters as text"
    return f"{text[: limit - 1]}... ({size})"
