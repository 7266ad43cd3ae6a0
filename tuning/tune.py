"""Hyperparameter search for an fdrl script with optuna, many workers on one study.

    python tuning/tune.py algos/ppo.py --env-id CartPole-v1 --total-timesteps 100000 \\
        --n-trials 40 --storage sqlite:///tuning.db

The tuner's own options are listed by ``--help``; every other argument is the script's and is
passed through to its ``Args`` (``--env-id``, budgets, anything to hold fixed). A script argument
given on the command line is removed from the search space. ``--`` forwards everything after it.

Each trial imports the script by path (importing is side-effect free by contract), samples the
space (``tuning/spaces/<script>.json``, overridable with ``--space`` and ``--param``), and calls
``train(args, report)`` in this process for each of ``--seeds`` seeds; ``report(step, mean_return)``
feeds ``trial.report`` so that the pruner (ASHA by default) can stop a bad trial early. The
objective is the mean over the seeds of the script's ``final_return``.

Target count: ``--n-trials N`` is the number of *evaluated* trials in the study, over all workers:
COMPLETE + PRUNED + FAILED by their training (an exception, a non-finite return). Trials that were
lost (their worker was killed or interrupted) are recorded as FAIL with ``lost`` set and do not
count, so rerunning the same command continues the study to N. A worker starts a trial only while
evaluated + running trials < N, so workers never overshoot; at the end a worker waits for the
trials still running elsewhere and declares one lost when its worker is gone (same host: the
process is dead; any host: no heartbeat for ``--heartbeat-grace`` seconds, so hosts' clocks must
agree to well within that). A surplus trial (two workers asking for the last slot at once) is
recorded as lost too.

Pruning: the pruner sees the running mean return at most every ``--report-every`` env steps (a
trial's steps / 30 by default; each report is a database round trip). ASHA's first rung is at a
ninth of a trial's steps (``--min-resource``) with reduction factor 3: rungs at T/9 and T/3.
With ``--seeds K`` the seeds run one after another and the reported step continues across them
(seed j's step s is j * T + s), the value being the mean of the finished seeds' returns and the
current one. A trial that reaches its full budget is complete: the pruner is not asked at the end.

Outcomes: ``train`` returns its summary or raises one of common/runs.py's ``RunEnded`` types.
``BadInput`` (exit 2) in a study where no trial has ever finished is fatal (the fixed arguments
are wrong: one line, exit 2); later it is a failed trial (the sampled combination is invalid), as
is ``TrainingFailed``. ``Stopped`` (SIGINT / SIGTERM) ends the trial cleanly: it is recorded as
lost and the tuner exits 130. The script's output goes to
``<runs_dir>/tune/<storage>/<study>/logs/trial_NNNN.log`` (shown too with ``--verbose``), its run
folders to ``<runs_dir>/tune/<storage>/<study>/``, where ``<storage>`` names the storage (its file's
stem and a short hash), so studies of one name in two storages keep apart.

At the end: the best trial, the command line that reproduces it, and its arguments as JSON in
``<storage file stem>.<study>.best.json`` next to the SQLite or journal file (a database server's:
``<storage>.<study>.best.json`` here; ``--out`` to choose).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import math
import os
import shlex
import signal
import socket
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.errors import (  # noqa: E402
    BadInput,
    RunEnded,
    Stopped,
    fail,
    one_line,  # noqa: E402
)
from common.scripts import flag_tokens, given_fields, load_script, parse_args  # noqa: E402
from tuning.space import decode, load_space, suggest, to_field  # noqa: E402
from tuning.storage import Ledger, file_of, is_evaluated, open_storage, storage_tag  # noqa: E402

# Fields that may differ between the workers of one study (machine-local, not part of the problem).
MACHINE_LOCAL = {"runs_dir", "cuda", "torch_threads", "env_threads", "vector_mode", "exp_name"}

# --- command line -------------------------------------------------------------------------

# fmt: off
OPTIONS = [
    ("--n-trials", dict(type=int, default=20, help="target count of evaluated trials (complete, pruned or failed) in the study, over all workers (default 20)")),
    ("--storage", dict(default="sqlite:///tuning.db", help="optuna RDB URL (sqlite:///f.db, postgresql://user:pw@host/db) or journal:PATH (default sqlite:///tuning.db)")),
    ("--study-name", dict(help="default: <script>-<env id>")),
    ("--space", dict(help="search space JSON (default tuning/spaces/<script>.json)")),
    ("--param", dict(action="append", default=[], metavar="NAME=SPEC", help="add or replace one parameter: float:LOW:HIGH[:log], int:LOW:HIGH[:log], a JSON list (categorical) or a JSON object")),
    ("--pruner", dict(choices=["asha", "hyperband", "median", "none"], default="asha", help="default asha (successive halving)")),
    ("--min-resource", dict(type=int, help="env steps (summed over seeds) before the first pruning decision (default: a ninth of a trial's steps)")),
    ("--reduction-factor", dict(type=int, default=3, help="ASHA / Hyperband reduction factor (default 3)")),
    ("--sampler", dict(choices=["tpe", "random"], default="tpe")),
    ("--startup-trials", dict(type=int, default=10, help="random trials before TPE models the space (default 10)")),
    ("--sampler-seed", dict(type=int, help="seed of the sampler (give each worker its own)")),
    ("--seeds", dict(type=int, default=1, help="seeds per trial: seed, seed+1, ...; the objective is their mean (default 1)")),
    ("--out", dict(help="where to write the best arguments as JSON (default: next to the storage)")),
    ("--heartbeat-interval", dict(type=float, default=10.0, help="seconds between a running trial's heartbeats (default 10)")),
    ("--heartbeat-grace", dict(type=float, default=60.0, help="a running trial without a heartbeat for this long is lost (default 60)")),
    ("--report-every", dict(type=int, help="env steps between the values handed to the pruner (default: a trial's steps / 30)")),
    ("--verbose", dict(action="store_true", help="show the script's output too (default: only in a log file per trial)")),
]
# fmt: on


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python tuning/tune.py",
        usage="python tuning/tune.py SCRIPT [tuner options] [script arguments]",
        description="Tune an fdrl script's arguments with optuna. Arguments the tuner does not "
        "know are the script's: they are fixed for every trial (and removed from the space).",
        allow_abbrev=False,
    )
    parser.error = lambda message: fail(message)  # one line, exit 2
    parser.add_argument("script", help="the script to tune, e.g. algos/ppo.py")
    for flag, kwargs in OPTIONS:
        parser.add_argument(flag, **kwargs)
    return parser


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """Tuner tokens (options + the script path) and the script's tokens, in their order."""
    takes_value = {flag: kwargs.get("action") != "store_true" for flag, kwargs in OPTIONS}
    takes_value |= {"-h": False, "--help": False}
    tuner, forwarded, script = [], [], None
    i = 0
    while i < len(argv):
        token = argv[i]
        name = token.split("=", 1)[0]
        if token == "--":
            forwarded += argv[i + 1 :]
            break
        if name in takes_value:
            tuner.append(token)
            if takes_value[name] and "=" not in token and i + 1 < len(argv):
                tuner.append(argv[i + 1])
                i += 1
        elif script is None and not token.startswith("-"):
            script = token
        else:
            forwarded.append(token)
        i += 1
    return ([script] if script else []) + tuner, forwarded


# --- the study ----------------------------------------------------------------------------


@dataclasses.dataclass
class Tuning:
    """What every trial of this worker needs: the options, the script, the space, the study."""

    opts: argparse.Namespace
    train: Callable
    fixed: Any  # the script's Args with the fixed arguments
    space: dict
    forwarded: list[str]
    study: Any  # optuna.Study
    ledger: Ledger
    trial_dir: Path
    best_path: Path
    worker: str = dataclasses.field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    @property
    def trial_steps(self) -> int | None:
        """Env steps of a whole trial (over its seeds), where the script has ``total_timesteps``."""
        total = getattr(self.fixed, "total_timesteps", None)
        return total * self.opts.seeds if isinstance(total, int) else None

    @property
    def report_every(self) -> int:
        return self.opts.report_every or max(1, (self.trial_steps or 0) // 30)

    def nothing_finished(self) -> bool:
        """A script's bad-input exit is fatal while no trial of the study has completed or been pruned."""
        from optuna.trial import TrialState

        states = (TrialState.COMPLETE, TrialState.PRUNED)
        return not self.study.get_trials(deepcopy=False, states=states)

    def evaluated_and_running(self) -> tuple[int, list[int]]:
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        running = [t.number for t in trials if t.state == TrialState.RUNNING]
        return sum(map(is_evaluated, trials)), running


def make_pruner(opts, trial_steps: int | None):
    import optuna

    if opts.pruner == "none":
        return optuna.pruners.NopPruner()
    min_resource = opts.min_resource or (max(1, trial_steps // 9) if trial_steps else "auto")
    if opts.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=min_resource, reduction_factor=opts.reduction_factor
        )
    if opts.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=min_resource,
            max_resource=trial_steps or "auto",
            reduction_factor=opts.reduction_factor,
        )
    warmup = min_resource if isinstance(min_resource, int) else 0
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup)


def open_study(opts, name: str, storage, trial_steps: int | None):
    import optuna

    if opts.sampler == "tpe":
        sampler = optuna.samplers.TPESampler(
            n_startup_trials=opts.startup_trials,
            seed=opts.sampler_seed,
            multivariate=True,
            constant_liar=True,
        )
    else:
        sampler = optuna.samplers.RandomSampler(seed=opts.sampler_seed)
    try:
        return optuna.create_study(
            storage=storage,
            study_name=name,
            direction="maximize",
            sampler=sampler,
            pruner=make_pruner(opts, trial_steps),
            load_if_exists=True,
        )
    except Exception as err:
        fail(f"cannot open study '{name}' in {opts.storage}: {type(err).__name__}: {one_line(str(err))}")


def check_same_problem(study, fixed, space: dict, opts) -> None:
    """The first worker records the fixed arguments; later ones must bring the same (one line, exit 2)."""
    problem = json.loads(json.dumps(dataclasses.asdict(fixed), default=str))
    problem = {k: v for k, v in problem.items() if k not in MACHINE_LOCAL and k not in space}
    recorded = study.user_attrs.get("fixed_args")
    if recorded is None:
        study.set_user_attr("fixed_args", problem)
        study.set_user_attr("script", Path(opts.script).name)
        study.set_user_attr("seeds", opts.seeds)
        return
    diff = sorted(k for k in set(recorded) | set(problem) if recorded.get(k) != problem.get(k))
    if diff or study.user_attrs.get("seeds", 1) != opts.seeds:
        what = ", ".join(f"{k}={recorded.get(k)!r} (now {problem.get(k)!r})" for k in diff) or "--seeds"
        fail(
            f"study '{study.study_name}' was started with other fixed arguments: {what}; use --study-name for a new study"
        )


def best_path(opts, name: str) -> Path:
    """``--out``, else ``<storage file stem>.<study>.best.json`` beside a file storage, else here."""
    if opts.out:
        return Path(opts.out)
    safe = name.replace("/", "_")
    file = file_of(opts.storage)
    if file is not None:
        return file.parent / f"{file.stem}.{safe}.best.json"
    return Path(f"{storage_tag(opts.storage)}.{safe}.best.json")


# --- one trial ----------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    state: str = "COMPLETE"  # COMPLETE | PRUNED | FAIL | LOST
    value: float | None = None
    reason: str | None = None
    pruned_at: int | None = None
    last_value: float = float("nan")
    steps: int = 0
    user_error: bool = False
    fatal: bool = False
    interrupted: str | None = None


class Reporter:
    """The ``report(step, mean_return)`` hook of one seed of a trial: the value the pruner sees is
    the mean of the finished seeds' returns and this one's, at steps continuing across seeds."""

    def __init__(self, tuning: Tuning, trial, out: Outcome, finals: list[float], offset: int):
        self.tuning, self.trial, self.out, self.finals, self.offset = tuning, trial, out, finals, offset
        self.last_step = 0

    def __call__(self, step: int, mean_return: float) -> bool:
        every, at = self.tuning.report_every, self.offset + int(step)
        crossed = at // every != (self.offset + self.last_step) // every
        self.last_step = int(step)
        if not crossed or not math.isfinite(mean_return):
            return False  # each report is a database round trip (~50 ms on SQLite)
        self.out.last_value = (sum(self.finals) + mean_return) / (len(self.finals) + 1)
        self.trial.report(self.out.last_value, at)
        final = self.tuning.trial_steps is not None and at >= self.tuning.trial_steps
        if not final and self.trial.should_prune():  # a trial at its full budget is complete
            self.out.pruned_at = at
            return True
        return False


class Tee(io.TextIOBase):
    """The script's output during a trial: to its log file and, with ``--verbose``, the terminal."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def call_train(tuning: Tuning, args, report: Reporter, log) -> dict:
    """``train(args, report)`` with its output in the trial's log; our signal handlers back after it."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    out = Tee(log, sys.stdout) if tuning.opts.verbose else log
    err = Tee(log, sys.stderr) if tuning.opts.verbose else log
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return tuning.train(args, report)
    finally:
        log.flush()
        for sig, handler in handlers.items():  # a script that raised mid-run left its own behind
            signal.signal(sig, handler)


def seed_args(tuning: Tuning, params: dict, number: int, j: int):
    """The Args of seed ``j`` of trial ``number``: the fixed ones with the sampled values."""
    fixed = tuning.fixed
    fields = {f.name for f in dataclasses.fields(fixed)}
    changes = {name: to_field(fixed, name, value) for name, value in params.items()}
    if "seed" in fields:
        changes["seed"] = fixed.seed + j
    if "runs_dir" in fields:
        changes["runs_dir"] = str(tuning.trial_dir)
    if "exp_name" in fields:
        changes["exp_name"] = f"{fixed.exp_name}-t{number}"
    return dataclasses.replace(fixed, **changes)


def ended(out: Outcome, err: BaseException, seed) -> None:
    """Record in ``out`` how a seed's training ended without a summary."""
    code = getattr(err, "code", None)
    if isinstance(err, Stopped):
        out.interrupted = err.signal_name
    elif isinstance(err, KeyboardInterrupt):
        out.interrupted = "SIGINT"
    elif isinstance(err, SystemExit) and code in (130, 143):
        out.interrupted = f"exit {code}"
    elif isinstance(err, SystemExit):
        message = err.message if isinstance(err, RunEnded) else "the script exited"
        out.state, out.user_error = "FAIL", isinstance(err, BadInput) or code == 2
        out.reason = f"exit {code}: {message} (seed {seed})"
    else:
        out.state, out.reason = "FAIL", f"{type(err).__name__}: {err} (seed {seed})"


def run_trial(tuning: Tuning, trial) -> Outcome:
    params = {name: suggest(trial, name, spec) for name, spec in tuning.space.items()}
    trial.set_user_attr("worker", tuning.worker)
    out, finals, offset = Outcome(), [], 0
    log_path = tuning.trial_dir / "logs" / f"trial_{trial.number:04d}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log, tuning.ledger.heartbeat(trial.number, tuning.opts.heartbeat_interval):
        for j in range(tuning.opts.seeds):
            args = seed_args(tuning, params, trial.number, j)
            report = Reporter(tuning, trial, out, finals, offset)
            try:
                summary = call_train(tuning, args, report, log)
            except (Exception, SystemExit, KeyboardInterrupt) as err:
                out.steps += report.last_step
                ended(out, err, getattr(args, "seed", None))
                return out
            summary = summary if isinstance(summary, dict) else {}
            step = int(summary.get("global_step", report.last_step))
            out.steps, offset = out.steps + step, offset + step
            if out.pruned_at is not None:
                out.state = "PRUNED"
                return out
            final = summary.get("final_return")
            final = float(final) if isinstance(final, int | float) else float("nan")
            if not math.isfinite(final):
                out.state = "FAIL"
                seed = getattr(args, "seed", None)
                out.reason = (
                    f"final_return is {final} (seed {seed}): training diverged or no episode finished"
                )
                return out
            finals.append(final)
    out.value = sum(finals) / len(finals)
    return out


def finish_trial(tuning: Tuning, trial, out: Outcome, wall: float) -> None:
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    attrs = {"steps": out.steps, "wall_s": round(wall, 2), "max_steps": tuning.trial_steps}
    attrs["pruned_at"] = out.pruned_at
    try:
        for key, value in attrs.items():
            if value is not None:
                trial.set_user_attr(key, value)
        out.fatal = out.user_error and tuning.nothing_finished()
        if out.interrupted or out.fatal:
            tuning.ledger.mark_lost(trial.number, out.reason or f"interrupted by {out.interrupted}")
        elif out.state == "FAIL":
            trial.set_user_attr("fail_reason", out.reason)
            tuning.study.tell(trial, state=TrialState.FAIL)
        elif out.state == "PRUNED":
            tuning.study.tell(trial, state=TrialState.PRUNED)
        else:
            tuning.study.tell(trial, out.value)
    except UpdateFinishedTrialError:
        out.state, out.reason = (
            "LOST",
            "another worker declared this trial lost (no heartbeat); result dropped",
        )


# --- what the tuner prints ----------------------------------------------------------------


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def params_text(tuning: Tuning, params: dict) -> str:
    return " ".join(f"{k}={fmt(decode(tuning.space.get(k), v))}" for k, v in params.items())


def progress_line(tuning: Tuning, trial, out: Outcome, wall: float) -> str:
    done, _ = tuning.evaluated_and_running()
    head = f"[{done:>3}/{tuning.opts.n_trials}] trial {trial.number:>3} "
    if out.interrupted:
        return f"{head}INTERRUPTED ({out.interrupted}) after {out.steps:,} steps; not counted"
    if out.state == "LOST":
        return f"{head}LOST: {out.reason}"
    if out.state == "FAIL":
        return f"{head}FAILED ({wall:.0f} s): {out.reason}  {params_text(tuning, trial.params)}"
    if out.state == "PRUNED":
        of = f" of {tuning.trial_steps:,}" if tuning.trial_steps else ""
        status = f"PRUNED at step {out.pruned_at:,}{of}  value {out.last_value:8.2f}"
    else:
        status = f"COMPLETE  value {out.value:8.2f}"
    return f"{head}{status}  {wall:5.0f} s  {params_text(tuning, trial.params)}"


def study_summary(tuning: Tuning) -> int:
    """Print the counts of the study's trials and the pruner's savings; the number of COMPLETE ones."""
    from optuna.trial import TrialState

    trials = tuning.study.get_trials(deepcopy=False)
    counts = {s: sum(t.state == s for t in trials) for s in TrialState}
    lost = sum(1 for t in trials if t.state == TrialState.FAIL and t.user_attrs.get("lost"))
    print(
        f"study {tuning.study.study_name}: {sum(map(is_evaluated, trials))} evaluated trials "
        f"({counts[TrialState.COMPLETE]} complete, {counts[TrialState.PRUNED]} pruned, "
        f"{counts[TrialState.FAIL] - lost} failed); {lost} lost, not counted"
    )
    done = [
        t for t in trials if is_evaluated(t) and "steps" in t.user_attrs and t.user_attrs.get("max_steps")
    ]
    pruned = [t for t in done if t.state == TrialState.PRUNED]
    if done and pruned:
        steps = sum(t.user_attrs["steps"] for t in done)
        full = steps + sum(t.user_attrs["max_steps"] - t.user_attrs["steps"] for t in pruned)
        wall = sum(t.user_attrs["wall_s"] for t in done)
        full_wall = wall + sum(
            t.user_attrs["wall_s"] * (t.user_attrs["max_steps"] / max(t.user_attrs["steps"], 1) - 1)
            for t in pruned
        )
        print(
            f"pruner stopped {len(pruned)} of {len(done)} trials: {steps:,} env steps trained instead of "
            f"{full:,} ({1 - steps / full:.0%} fewer); {wall:.0f} s of training instead of ~{full_wall:.0f} s "
            "(estimated by scaling each pruned trial's time to its full budget)"
        )
    return counts[TrialState.COMPLETE]


def best_report(tuning: Tuning) -> int:
    """Print the study's state and the best trial's command; write its arguments as JSON."""
    if not study_summary(tuning):
        print("no trial completed yet: no best arguments")
        return 1
    best, opts = tuning.study.best_trial, tuning.opts
    params = {k: to_field(tuning.fixed, k, decode(tuning.space.get(k), v)) for k, v in best.params.items()}
    tokens = list(tuning.forwarded)
    for name, value in params.items():
        tokens += flag_tokens(name, value)
    command = f"python {shlex.join([opts.script, *tokens])}"
    args = dataclasses.replace(tuning.fixed, **params)
    seeds = (
        f" (seed {args.seed}; the objective was the mean over {opts.seeds} seeds)" if opts.seeds > 1 else ""
    )
    print(f"best: trial {best.number}, value {best.value:.2f}{seeds}\n  {command}")
    record = {
        "study": tuning.study.study_name,
        "storage": opts.storage,
        "script": opts.script,
        "trial": best.number,
        "value": best.value,
        "seeds": opts.seeds,
        "params": params,
        "command": command,
        "args": dataclasses.asdict(args),
    }
    out = tuning.best_path
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
        os.replace(tmp, out)
    except OSError as err:
        fail(f"cannot write {out}: {err}", 1)
    print(f"best arguments written to {out}")
    return 0


# --- the worker ---------------------------------------------------------------------------


def next_trial(tuning: Tuning, waiting_for: list):
    """A new trial while the target allows one; None when the study is done; "wait" while the
    last trials run on other workers."""
    tuning.ledger.sweep_lost(tuning.opts.heartbeat_grace)
    done, running = tuning.evaluated_and_running()
    n = tuning.opts.n_trials
    if done >= n:
        return None
    if done + len(running) >= n:
        if waiting_for != running:
            print(f"waiting for trials {running} of other workers ({done}/{n} evaluated)", flush=True)
            waiting_for[:] = running
        time.sleep(min(tuning.opts.heartbeat_interval, 5.0))
        return "wait"
    trial = tuning.study.ask()
    ahead = sum(
        1
        for t in tuning.study.get_trials(deepcopy=False)
        if t.number < trial.number and (is_evaluated(t) or t.state.name == "RUNNING")
    )
    if ahead >= n:  # another worker took the last slot at the same moment
        tuning.ledger.mark_lost(trial.number, "surplus: the target was reached by other workers")
        return "wait"
    return trial


def work(tuning: Tuning) -> int:
    """Run trials until the study has its target count; 130 when interrupted."""
    waiting_for: list = []
    while (trial := next_trial(tuning, waiting_for)) is not None:
        if trial == "wait":
            continue
        start = time.time()
        try:
            out = run_trial(tuning, trial)
        except KeyboardInterrupt:
            out = Outcome(interrupted="SIGINT")
        finish_trial(tuning, trial, out, time.time() - start)
        print(progress_line(tuning, trial, out, time.time() - start), flush=True)
        if out.interrupted:
            best_report(tuning)
            print(
                f"interrupted by {out.interrupted}: rerun the same command to continue the study",
                file=sys.stderr,
            )
            return 130
        if out.fatal:
            fail(f"trial {trial.number}: {out.reason}; check the fixed arguments and the search space")
    return best_report(tuning)


def setup(opts, forwarded: list[str]) -> Tuning:
    """Check everything the user gave (one line, exit 2), open the study, record its problem."""
    module = load_script(opts.script)
    fields = {f.name: f for f in dataclasses.fields(module.Args)}
    if opts.seeds > 1 and "seed" not in fields:
        fail(f"--seeds {opts.seeds}: {opts.script}'s Args has no 'seed' field")
    fixed_names = given_fields(forwarded, set(fields))
    space = load_space(opts.space, opts.param, opts.script, fields, fixed_names)
    fixed = parse_args(module.Args, forwarded, opts.script)

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(opts.storage)
    name = opts.study_name or "-".join(filter(None, [Path(opts.script).stem, getattr(fixed, "env_id", None)]))
    total = getattr(fixed, "total_timesteps", None)
    study = open_study(opts, name, storage, total * opts.seeds if isinstance(total, int) else None)
    check_same_problem(study, fixed, space, opts)
    runs_dir = Path(getattr(fixed, "runs_dir", "runs"))
    return Tuning(
        opts=opts,
        train=module.train,
        fixed=fixed,
        space=space,
        forwarded=forwarded,
        study=study,
        ledger=Ledger(storage, study),
        trial_dir=runs_dir / "tune" / storage_tag(opts.storage) / name.replace("/", "_"),
        best_path=best_path(opts, name),
    )


def main(argv: list[str] | None = None) -> int:
    tuner_tokens, forwarded = split_argv(sys.argv[1:] if argv is None else argv)
    opts = build_parser().parse_args(tuner_tokens)
    try:
        import optuna  # noqa: F401
    except ImportError:
        fail("tuning needs the optional package 'optuna': pip install -e '.[tune]'")
    if opts.n_trials < 1 or opts.seeds < 1 or opts.heartbeat_interval <= 0 or opts.heartbeat_grace <= 0:
        fail("--n-trials, --seeds, --heartbeat-interval and --heartbeat-grace must be positive")
    tuning = setup(opts, forwarded)
    print(
        f"study {tuning.study.study_name} in {opts.storage}: target {opts.n_trials} evaluated trials, "
        f"pruner {opts.pruner}, {opts.seeds} seed(s), worker {tuning.worker}; trial runs in {tuning.trial_dir}",
        flush=True,
    )
    return work(tuning)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to continue the study", file=sys.stderr)
        sys.exit(130)
