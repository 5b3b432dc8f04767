"""``errors.report``: how A1111 handles an exception in a script's hook — it prints it to the
console and goes on with the generation. The double also keeps each report for tests to read."""

from __future__ import annotations

import sys

reported: list[tuple[str, BaseException | None]] = []
"""(message, the exception being handled) for each report, oldest first."""


def report(message: str, *, exc_info: bool = False) -> None:
    error = sys.exc_info()[1] if exc_info else None
    reported.append((message, error))
    print(f"*** {message}" + (f": {type(error).__name__}: {error}" if error else ""), file=sys.stderr)
