"""The script contract as the tools see it: import a script by path, read its ``Args`` (defaults
included, whatever expression made them), parse a command line into them, and turn values back into
command-line tokens. tuning/ and benchmarks/ both load scripts through here (no script imports it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

from common.errors import fail, one_line

ROOT = Path(__file__).resolve().parents[1]


def resolve(path: str | Path) -> Path:
    """``path`` as given when it exists from here, else relative to the repository root."""
    path = Path(path)
    return path if path.is_absolute() or path.exists() else ROOT / path


_loaded: dict[Path, ModuleType] = {}


def load_script(path: str | Path) -> ModuleType:
    """Import ``algos/x.py`` (importing a script has no side effects), once per file; one line and
    exit 2 when there is no such file or it does not follow the contract (``Args`` and ``train``)."""
    file = resolve(path).resolve()
    if file in _loaded:
        return _loaded[file]
    if not file.is_file():
        fail(f"no script at '{path}'")
    name = f"fdrl_script_{file.stem}_{hashlib.sha1(str(file).encode()).hexdigest()[:8]}"  # one per file
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        fail(f"cannot import '{path}' (not a Python file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and tyro resolve annotations through sys.modules
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:
        fail(f"cannot import '{path}': {type(err).__name__}: {one_line(str(err))}")
    if not (
        dataclasses.is_dataclass(getattr(module, "Args", None)) and callable(getattr(module, "train", None))
    ):
        fail(f"'{path}' does not follow the script contract (an Args dataclass and train(args, report))")
    _loaded[file] = module
    return module


def defaults(args_class) -> dict:
    """Every field's default as this machine computes it (``bf16: bool = native_bf16()`` included)."""
    instance = args_class()
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(args_class)}


def parse_args(args_class, tokens: list[str], prog: str):
    """``tokens`` parsed into ``args_class`` by tyro, or one line ``error: PROG arguments: ...``, exit 2."""
    import tyro

    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer), contextlib.redirect_stdout(buffer):
            return tyro.cli(args_class, args=tokens, prog=f"python {prog}")
    except SystemExit:
        fail(f"{prog} arguments: {one_line(buffer.getvalue())}")


def flag_tokens(name: str, value) -> list[str]:
    """A field's value as tyro tokens: ``--hidden-sizes 64 64``, ``--no-anneal-lr``, ``--lr 0.001``."""
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [flag if value else "--no-" + name.replace("_", "-")]
    if isinstance(value, list | tuple):
        return [flag, *map(str, value)]
    return [flag, repr(value) if isinstance(value, float) else str(value)]


def to_argv(values: dict, fields: set[str], notes: list[str] | None = None) -> list[str]:
    """{field: value} as tokens for the fields the script has; the others noted (``no --name``)."""
    argv = []
    for name, value in values.items():
        if name in fields:
            argv += flag_tokens(name, value)
        elif notes is not None:
            notes.append(f"no --{name.replace('_', '-')}")
    return argv


def given_fields(tokens: list[str], fields: set[str]) -> set[str]:
    """The Args fields that command-line tokens set (``--hidden-sizes``, ``--no-anneal-lr``)."""
    names = set()
    for token in tokens:
        if token.startswith("--"):
            name = token[2:].split("=", 1)[0].replace("-", "_")
            if name not in fields and name.startswith("no_") and name[3:] in fields:
                name = name[3:]
            names.add(name)
    return names
