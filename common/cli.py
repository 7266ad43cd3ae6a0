"""The command line of every script: tyro parses ``Args``; ``--resume PATH`` makes the checkpoint's
Args the defaults; a mistake ends with one line (``error: unrecognized option --lr (did you mean
--learning-rate?)``, exit 2), never tyro's box or a traceback.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import sys

from common.checkpoints import args_from_checkpoint, load_checkpoint
from common.errors import fail, one_line

TUNED_SETTINGS = (
    "Tuned settings per env: docs/BENCHMARKS.md, 'Tuned settings per env' (one command per env), or "
    "./benchmark.sh SUITE --envs ENV --algos SCRIPT --print-jobs."
)


def cli(args_class):
    """``tyro.cli(args_class)``, except that with ``--resume PATH`` the defaults are the Args stored in
    that checkpoint: ``--resume PATH`` alone continues the run as configured, other flags override."""
    import tyro

    argv, path = sys.argv[1:], None
    for i, arg in enumerate(argv):
        if arg == "--resume" and i + 1 < len(argv):
            path = argv[i + 1]
        elif arg.startswith("--resume="):
            path = arg.split("=", 1)[1]
    if "-h" in argv or "--help" in argv:  # the script's first docstring line, and where tuned settings are
        title = ((sys.modules[args_class.__module__].__doc__ or "").strip().splitlines() or [""])[0]
        return tyro.cli(args_class, description=f"{title}\n\n{TUNED_SETTINGS}")
    default = tyro.MISSING_NONPROP
    if path is not None and path != "None":
        default = args_from_checkpoint(args_class, load_checkpoint(path, mmap=True))
    boxed = io.StringIO()
    try:
        with contextlib.redirect_stderr(boxed):
            return tyro.cli(args_class, default=default)
    except SystemExit as stop:
        if stop.code in (0, None):
            raise
        fail(_explain(args_class, argv) or one_line(boxed.getvalue()))


def _explain(args_class, argv: list[str]) -> str | None:
    """One line for the usual command-line mistakes (an unknown flag, a value of the wrong type or
    outside a Literal's choices, a missing value), found from ``argv`` and the Args' types."""
    import typing

    hints = typing.get_type_hints(args_class)
    flags = {"--" + name.replace("_", "-"): hint for name, hint in hints.items()}
    flags.update({"--no-" + flag[2:]: bool for flag, hint in list(flags.items()) if hint is bool})
    i = 0
    while i < len(argv):
        flag, has_inline, inline = argv[i].partition("=")
        i += 1
        if not flag.startswith("--"):
            return f"unexpected argument '{flag}'; options start with --"
        if flag not in flags:
            close = difflib.get_close_matches(flag, list(flags), n=1)
            return f"unrecognized option {flag}" + (f" (did you mean {close[0]}?)" if close else "")
        hint = flags[flag]
        if hint is bool:
            continue
        values = [inline] if has_inline else []
        while not has_inline and i < len(argv) and not argv[i].startswith("--"):
            values.append(argv[i])
            i += 1
        if not values:
            return f"{flag} needs a value"
        problem = _bad_value(flag, hint, values)
        if problem:
            return problem
    return None


def _bad_value(flag: str, hint, values: list[str]) -> str | None:
    """One line when a value of ``flag`` does not fit its type ``hint`` (a Literal's choices, int, float)."""
    import typing

    kinds = typing.get_args(hint) or (hint,)
    choices = [c for k in kinds if typing.get_origin(k) is typing.Literal for c in typing.get_args(k)]
    if typing.get_origin(hint) is typing.Literal:
        choices = list(kinds)
    for value in values:
        if value == "None" and type(None) in kinds:
            continue
        if choices:
            if value not in map(str, choices):
                return f"{flag} must be one of {', '.join(map(str, choices))} (got {value})"
            continue
        for kind, word in ((int, "an integer"), (float, "a number")):
            if kind in kinds:
                try:
                    kind(value)
                except ValueError:
                    return f"{flag} must be {word}{' or None' if type(None) in kinds else ''} (got {value})"
                break
    return None
