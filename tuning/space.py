"""Search spaces: ``tuning/spaces/<script>.json`` (data), ``--param NAME=SPEC`` on top, checked
against the script's Args before any trial runs; sampling a trial's values from them."""

from __future__ import annotations

import contextlib
import difflib
import json
from pathlib import Path

from common.errors import fail

SPACES_DIR = Path(__file__).resolve().parent / "spaces"


def parse_param(text: str) -> tuple[str, dict]:
    """``NAME=float:1e-5:1e-2:log`` | ``NAME=int:1:8`` | ``NAME=[1,2,4]`` | ``NAME={...}``."""
    name, sep, spec = text.partition("=")
    if not sep or not name:
        fail(f"--param '{text}': expected NAME=SPEC")
    if spec.startswith(("[", "{")):
        try:
            value = json.loads(spec)
        except json.JSONDecodeError as err:
            fail(f"--param {name}: not valid JSON: {err}")
        return name, value if isinstance(value, dict) else {"type": "categorical", "choices": value}
    kind, *rest = spec.split(":")
    if kind not in ("float", "int") or len(rest) not in (2, 3) or rest[2:] not in ([], ["log"]):
        fail(f"--param {name}={spec}: expected float:LOW:HIGH[:log], int:LOW:HIGH[:log] or a JSON list")
    try:
        low, high = (float(x) if kind == "float" else int(x) for x in rest[:2])
    except ValueError:
        fail(f"--param {name}={spec}: LOW and HIGH must be {kind} numbers")
    return name, {"type": kind, "low": low, "high": high, "log": rest[2:] == ["log"]}


def check_space(space: dict, fields: dict, source: str, script: str) -> None:
    """Every name is an Args field and every spec is well formed, or one line and exit 2."""
    for name, spec in space.items():
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            fail(f"unknown parameter '{name}' in {source}: {script}'s Args has no such field{hint}")
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind in ("float", "int"):
            low, high = spec.get("low"), spec.get("high")
            ok = isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high
            if not ok or (spec.get("log") and low <= 0):
                fail(f"parameter '{name}' in {source}: needs numbers low < high (low > 0 with log): {spec}")
        elif kind == "categorical":
            if not isinstance(spec.get("choices"), list) or not spec["choices"]:
                fail(f"parameter '{name}' in {source}: categorical needs a non-empty list 'choices'")
        else:
            fail(f"parameter '{name}' in {source}: type must be float, int or categorical: {spec}")


def load_space(space_file: str | None, params: list[str], script: str, fields: dict, fixed: set[str]) -> dict:
    """The space file (default ``spaces/<script>.json``) with ``--param`` on top, minus the fields
    given as script arguments (held fixed) unless a ``--param`` names them."""
    path = Path(space_file) if space_file else SPACES_DIR / f"{Path(script).stem}.json"
    space = {}
    if path.is_file():
        try:
            space = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            fail(f"cannot read search space {path}: {err}")
        space.pop("_comment", None)
        check_space(space, fields, str(path), script)
    elif space_file or not params:
        fail(f"no search space {path}: write one (see tuning/spaces/) or give --space / --param")
    overrides = dict(parse_param(p) for p in params)
    check_space(overrides, fields, "--param", script)
    space.update(overrides)
    for name in fixed & set(space):
        if name not in overrides:
            del space[name]  # given as a script argument: held fixed
    if not space:
        fail("the search space is empty (every parameter is fixed by a script argument)")
    return space


def suggest(trial, name: str, spec: dict):
    kind, log = spec["type"], spec.get("log", False)
    if kind == "float":
        return trial.suggest_float(name, spec["low"], spec["high"], log=log, step=spec.get("step"))
    if kind == "int":
        return trial.suggest_int(name, spec["low"], spec["high"], log=log, step=spec.get("step", 1))
    return decode(spec, trial.suggest_categorical(name, encoded_choices(spec)))


def encoded_choices(spec: dict) -> list:
    """Optuna's categorical choices are scalars: lists (e.g. hidden sizes) travel as JSON text."""
    return [json.dumps(c) if isinstance(c, (list, dict)) else c for c in spec["choices"]]


def decode(spec: dict | None, value):
    if spec is not None and spec["type"] == "categorical":
        encoded = encoded_choices(spec)
        if value in encoded:
            return spec["choices"][encoded.index(value)]
    if isinstance(value, str) and value.startswith("["):
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(value)
    return value


def to_field(fixed, name: str, value):
    """A sampled value in the field's type (lists become tuples where the default is a tuple)."""
    return tuple(value) if isinstance(getattr(fixed, name), tuple) and isinstance(value, list) else value
