"""The one kind of error a converter reports to its user."""

from __future__ import annotations


class ConversionError(Exception):
    """A problem with the raw input, explained in one line: where, what, and the fix."""


def fail(where: object, problem: str, fix: str) -> ConversionError:
    """Build the uniform ``"<where>: <problem>; fix: <fix>"`` error."""
    return ConversionError(f"{where}: {problem}; fix: {fix}")
