"""Bad input, swept over every script: one line ``error: ...``, exit 2, before any run folder is made.

For each numeric argument a script has, the values outside its range in ``common/checks.py``
(negative, zero, out of range, non-finite) go to ``train(Args(...))`` in-process, and a non-numeric
value goes through the command-line parser (``common.cli.cli``); then an unknown env, a wrong action
space, a v4 Atari id, cross-field mistakes, a missing and a corrupt checkpoint. A run that gets as far
as building its run folder (``Run``) has not rejected its input. ``python tests/test_bad_input.py``
prints the sweep's count per script.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import json
import math
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from conftest import ROOT, assert_one_line_error, run_script

from common import runs
from common.checks import ranges_of
from common.cli import cli

SCRIPTS = [p.stem for p in sorted((ROOT / "algos").glob("*.py")) if p.stem != "__init__"]
DISCRETE = {"ppo", "a2c", "sarsa", "dqn", "dqn_per", "sac_discrete"}
CONTINUOUS = {"ppo_continuous", "a2c_continuous", "sac_continuous"}
ATARI = {"ppo_atari", "a2c_atari", "dqn_atari", "sac_atari"}


class _Built(Exception):
    """Raised in place of ``Run``'s run folder (after its own checks: env id, checkpoint): the script
    accepted its input and started a run folder."""


def _numeric_fields(module) -> dict[str, type]:
    """Args fields whose type is int or float (or a tuple / optional of them): name -> int or float."""
    out = {}
    for name, hint in typing.get_type_hints(module.Args).items():
        kinds = [t for t in (typing.get_args(hint) or (hint,)) if t in (int, float)]
        if hint in (int, float) or kinds:
            out[name] = kinds[0] if kinds else hint
    return out


def bad_values(spec: str, kind: type) -> list[tuple[str, typing.Any]]:
    """(kind of mistake, value) pairs outside ``spec``."""
    out = []
    if spec.startswith(">"):
        low = float(spec.lstrip(">="))
        if spec.startswith(">=") and low == 1:
            out.append(("zero", 0))
        if spec.startswith(">") and not spec.startswith(">=") and low == 0:
            out.append(("zero", 0))
        out.append(("negative", -5 if kind is int else -0.5))
        if kind is float:
            out.append(("out-of-range", math.inf))
    elif spec[0] in "[(":
        low, high = (float(x) for x in spec[1:-1].split(","))
        out.append(("negative", -5 if kind is int else -0.5))
        if spec[0] == "(":
            out.append(("zero", 0))
        out.append(("out-of-range", int(high) + 1 if kind is int else high + 0.5))
    if kind is float:
        out.append(("out-of-range", math.nan))
    return [(what, kind(v) if not (isinstance(v, float) and not math.isfinite(v)) else v) for what, v in out]


def cases(script: str, tmp: Path) -> list[tuple[str, dict | list]]:
    """(name, Args overrides) for train(), or (name, argv list) for the command line."""
    module = importlib.import_module(f"algos.{script}")
    fields = _numeric_fields(module)
    defaults = module.Args()
    out: list[tuple[str, dict | list]] = []
    for name, kind in fields.items():
        bad = bad_values(ranges_of(script)[name], kind)
        if name == "hidden_sizes":
            bad = [("zero", (64, 0)), ("negative", (64, -5))]
        for what, value in bad:
            out.append((f"--{name} {what} {value}", {name: value}))
        out.append((f"--{name} non-numeric", ["--" + name.replace("_", "-"), "abc"]))
    wrong = "CartPole-v1" if script in CONTINUOUS | ATARI else "Pendulum-v1"
    unknown = "ALE/Breakou-v5" if script in ATARI else "CartPol-v1"
    out += [("unknown env", {"env_id": unknown}), ("v4 Atari id", {"env_id": "BreakoutNoFrameskip-v4"})]
    if script != "reinforce":  # reinforce takes Discrete and Box actions
        out.append(("wrong action space", {"env_id": wrong}))
    a = vars(defaults)
    if "buffer_size" in a:
        out.append(("batch > buffer", {"batch_size": 64, "buffer_size": 32, "learning_starts": 32}))
        out.append(("batch > learning_starts", {"batch_size": 64, "learning_starts": 32}))
    if a.get("exploration") == "epsilon":  # sarsa: a temperature may exceed 1, a probability not
        out.append(("epsilon above 1", {"start_e": 1.5}))
    if "num_minibatches" in a:
        out.append(("minibatches do not divide", {"num_envs": 3, "num_steps": 5, "num_minibatches": 2}))
    corrupt = tmp / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    out += [
        ("missing checkpoint", {"resume": str(tmp / "missing.pt")}),
        ("corrupt checkpoint", {"resume": str(corrupt)}),
    ]
    return out


def attempt(script: str, case: dict | list, runs_dir: Path) -> str:
    """'clean', or what went wrong: a traceback, exit 0, a run folder, more than one line."""
    module = importlib.import_module(f"algos.{script}")
    err, original = io.StringIO(), runs.Run._open_folder

    def built(self, *args, **kwargs):
        raise _Built

    runs.Run._open_folder = built
    argv = sys.argv
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            if isinstance(case, list):
                sys.argv = [f"{script}.py", *case]
                cli(module.Args)
                return "parsed"
            module.train(dataclasses.replace(module.Args(), runs_dir=str(runs_dir), **case))
            return "exit 0"
    except SystemExit as stop:
        lines = err.getvalue().strip().splitlines()
        if stop.code != 2:
            return f"exit {stop.code}"
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return f"{len(lines)} lines: {lines[:1]}"
        return "clean"
    except _Built:
        return "run folder"
    except Exception as error:  # noqa: BLE001 (what the sweep is looking for)
        return f"traceback {type(error).__name__}: {str(error)[:60]}"
    finally:
        runs.Run._open_folder = original
        sys.argv = argv


def sweep(script: str, tmp: Path) -> list[tuple[str, str]]:
    return [(name, attempt(script, case, tmp / "runs")) for name, case in cases(script, tmp)]


def test_every_numeric_argument_has_a_range():
    missing = {
        f"{script}.{name}"
        for script in SCRIPTS
        for name in _numeric_fields(importlib.import_module(f"algos.{script}"))
        if name not in ranges_of(script)
    }
    assert not missing, f"add these to common/checks.py RANGES: {sorted(missing)}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_sweep(script, tmp_path):
    results = sweep(script, tmp_path)
    bad = [f"{name}: {outcome}" for name, outcome in results if outcome != "clean"]
    assert not bad, "\n".join(bad)
    assert not (tmp_path / "runs").exists()


def test_message_names_flag_range_and_value(capsys):
    from algos import ppo, sac_continuous

    with pytest.raises(SystemExit) as stop:
        ppo.train(ppo.Args(num_envs=0))
    assert stop.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "--num-envs must be >= 1 (got 0)")
    with pytest.raises(SystemExit):
        sac_continuous.train(sac_continuous.Args(tau=1.5))
    assert_one_line_error(capsys.readouterr().err, "--tau must be in (0, 1] (got 1.5)")


def test_learning_after_the_budget_is_said(capsys):
    """learning_starts >= total_timesteps trains nothing (a way to fill a buffer): one line says so."""
    from algos import dqn
    from common.checks import check_args

    check_args(dqn.Args(learning_starts=5000, total_timesteps=4000))
    assert capsys.readouterr().out == (
        "note: --learning-starts 5,000 is not below --total-timesteps 4,000: no update will be made\n"
    )


def test_cli_non_numeric_is_one_line(monkeypatch, capsys):
    from algos import ppo

    monkeypatch.setattr(sys, "argv", ["ppo.py", "--num-envs", "abc"])
    with pytest.raises(SystemExit) as stop:
        cli(ppo.Args)
    assert stop.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "--num-envs must be an integer (got abc)")
    monkeypatch.setattr(sys, "argv", ["ppo.py", "--num-envz", "3"])
    with pytest.raises(SystemExit):
        cli(ppo.Args)
    assert_one_line_error(
        capsys.readouterr().err, "unrecognized option --num-envz (did you mean --num-envs?)"
    )


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--total-timesteps", "-5"], "--total-timesteps must be >= 1 (got -5)"),
        (["--learning-rate", "abc"], "--learning-rate must be a number (got abc)"),
        (["--env-id", "BreakoutNoFrameskip-v4"], "use ALE/Breakout-v5"),
    ],
)
def test_command_line(argv, expected, tmp_path):
    out = run_script("ppo.py", *argv, "--runs-dir", str(tmp_path), timeout=120)
    assert out.returncode == 2, out.stderr
    assert_one_line_error(out.stderr, expected)
    assert not list(tmp_path.iterdir())


def test_help_still_works():
    out = subprocess.run(
        [sys.executable, str(ROOT / "algos" / "sarsa.py"), "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0 and "--num-envs" in out.stdout


@pytest.mark.parametrize("script", ["ppo_continuous", "a2c_continuous"])
def test_budget_below_one_rollout_runs_one_rollout(script, runs_dir, capsys):
    """500 steps of a 2048-step rollout: one rollout, said in one line (it was 0 rollouts, exit 0 and
    NaN). Budgets of one rollout or more train as many whole rollouts as fit, as before."""
    module = importlib.import_module(f"algos.{script}")
    args = module.Args(
        env_id="Pendulum-v1", total_timesteps=500, num_envs=1, num_steps=2048, runs_dir=runs_dir
    )
    summary = module.train(args)
    assert summary["global_step"] == 2048 and math.isfinite(summary["final_return"])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "note: --total-timesteps 500 is not a whole number of 2,048-step rollouts: training 1 rollout, 2,048 steps"
    )
    written = json.loads((Path(summary["run_dir"]) / "summary.json").read_text())
    assert written["global_step"] == 2048


if __name__ == "__main__":  # the sweep's count per script: python tests/test_bad_input.py
    import tempfile

    total = clean = 0
    for name in sys.argv[1:] or SCRIPTS:
        with tempfile.TemporaryDirectory() as tmp:
            results = sweep(name, Path(tmp))
        ok = sum(outcome == "clean" for _, outcome in results)
        total, clean = total + len(results), clean + ok
        print(f"{name:16s} {ok:4d}/{len(results):<4d}", flush=True)
        for case, outcome in results:
            if outcome != "clean":
                print(f"    {case}: {outcome}")
    print(f"clean {clean}/{total}")
