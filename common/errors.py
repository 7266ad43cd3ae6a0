"""How a run ends without its summary: one line on stderr and an exit code, never a traceback.

Bad user input (an unknown env, a wrong action space, a bad argument, an unreadable checkpoint)
exits 2; a failed run (a non-finite loss or weight) and a stop by SIGINT / SIGTERM exit 1. The
tuner and the benchmark runner catch the exception types instead of parsing stderr.
"""

from __future__ import annotations

import re
import sys
from typing import NoReturn


class RunEnded(SystemExit):
    """A ``SystemExit``: run from the command line, the script exits with ``exit_code`` after its one
    line; ``message`` says why, without the ``error:`` prefix."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(self.exit_code)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(RunEnded):
    """Bad user input: exit 2."""

    exit_code = 2


class TrainingFailed(RunEnded):
    """Training failed (a non-finite loss or weight): exit 1."""


class Stopped(RunEnded):
    """SIGINT / SIGTERM stopped training; the summary and checkpoint are written: exit 1."""

    def __init__(self, message: str, signal_name: str, summary: dict):
        super().__init__(message)
        self.signal_name, self.summary = signal_name, summary


def fail(message: str, code: int = 2) -> NoReturn:
    """End the run with one line on stderr: ``BadInput`` (exit 2) or, with ``code=1``,
    ``TrainingFailed`` (exit 1)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise BadInput(message) if code == 2 else TrainingFailed(message)


def one_line(text: str) -> str:
    """One line out of an error text: the first line of tyro's boxed message that says something
    (``name: problem``), plus its "Perhaps you meant" suggestion."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", str(text))
    lines = [line.strip(" │╭╮╰╯─|+=\t") for line in plain.splitlines()]
    lines = [s for s in lines if s.strip("-") and not s.lower().startswith(("value error", "parsing error"))]
    found = next((s for s in lines if ":" in s and not s.startswith("Perhaps")), lines[0] if lines else None)
    if found is None:
        return "failed"
    if "Perhaps you meant:" in lines[:-1]:
        found += f" (perhaps {lines[lines.index('Perhaps you meant:') + 1]})"
    return found
