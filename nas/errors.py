"""The one exception type that reaches users as a one-line message."""

from __future__ import annotations


class NasError(Exception):
    """A problem with the user's input or environment (bad architecture, missing file, ...).

    The CLI prints ``nas: error: <message>`` and exits with status 2; library callers can
    catch it like any exception. Messages name the problem and, where useful, the fix.
    """
