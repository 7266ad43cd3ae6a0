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
current one.

Failures: a script's exit 2 (bad input, ``common.runs.fail``) in a study where no trial has ever
finished is fatal (the fixed arguments are wrong: one line, exit 2); later it is a failed trial
(the sampled combination is invalid). SIGINT / SIGTERM stop the trial cleanly, record it as lost
and exit 130. The script's output goes to ``<runs_dir>/tune/<study>/logs/trial_NNNN.log`` (all
of it with ``--verbose``), its run folders to ``<runs_dir>/tune/<study>/``.

At the end: the best trial, the command line that reproduces it, and its arguments as JSON in
``<study>.best.json`` next to the SQLite or journal file (``--out`` to choose).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import importlib.util
import io
import json
import math
import os
import shlex
import signal
import socket
import sys
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common.runs import fail  # noqa: E402  (one line on stderr, exit 2)

SPACES_DIR = Path(__file__).resolve().parent / "spaces"
# Fields that may differ between the workers of one study (machine-local, not part of the problem).
MACHINE_LOCAL = {"runs_dir", "cuda", "torch_threads", "vector_mode", "exp_name"}


def one_line(text: str) -> str:
    """One line out of an error text: tyro's boxed message becomes its first line with a colon,
    plus its "Perhaps you meant" suggestion."""
    lines = [line.strip(" │╭╮╰╯─\t") for line in str(text).splitlines()]
    lines = [line for line in lines if line.strip("-")]
    found = next((line for line in lines if ":" in line and not line.startswith("Perhaps")), None)
    if found is None:
        return lines[0] if lines else "failed"
    if "Perhaps you meant:" in lines:
        found += f" (perhaps {lines[lines.index('Perhaps you meant:') + 1]})"
    return found


# --- command line -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python tuning/tune.py",
        usage="python tuning/tune.py SCRIPT [tuner options] [script arguments]",
        description="Tune an fdrl script's arguments with optuna. Arguments the tuner does not "
        "know are the script's: they are fixed for every trial (and removed from the space).",
        allow_abbrev=False,
    )
    parser.error = lambda message: fail(message)  # one line, exit 2
    add = parser.add_argument
    add("script", help="the script to tune, e.g. algos/ppo.py")
    add(
        "--n-trials",
        type=int,
        default=20,
        help="target count of evaluated trials (complete, pruned or failed) in the study, over all workers (default 20)",
    )
    add(
        "--storage",
        default="sqlite:///tuning.db",
        help="optuna RDB URL (sqlite:///f.db, postgresql://user:pw@host/db) or journal:PATH (default sqlite:///tuning.db)",
    )
    add("--study-name", help="default: <script>-<env id>")
    add("--space", help="search space JSON (default tuning/spaces/<script>.json)")
    add(
        "--param",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="add or replace one parameter: float:LOW:HIGH[:log], int:LOW:HIGH[:log], a JSON list (categorical) or a JSON object",
    )
    add(
        "--pruner",
        choices=["asha", "hyperband", "median", "none"],
        default="asha",
        help="default asha (successive halving)",
    )
    add(
        "--min-resource",
        type=int,
        help="env steps (summed over seeds) before the first pruning decision (default: a ninth of a trial's steps)",
    )
    add("--reduction-factor", type=int, default=3, help="ASHA / Hyperband reduction factor (default 3)")
    add("--sampler", choices=["tpe", "random"], default="tpe")
    add(
        "--startup-trials",
        type=int,
        default=10,
        help="random trials before TPE models the space (default 10)",
    )
    add("--sampler-seed", type=int, help="seed of the sampler (give each worker its own)")
    add(
        "--seeds",
        type=int,
        default=1,
        help="seeds per trial: seed, seed+1, ...; the objective is their mean (default 1)",
    )
    add("--out", help="where to write the best arguments as JSON (default: next to the storage)")
    add(
        "--heartbeat-interval",
        type=float,
        default=10.0,
        help="seconds between a running trial's heartbeats (default 10)",
    )
    add(
        "--heartbeat-grace",
        type=float,
        default=60.0,
        help="a running trial without a heartbeat for this long is lost (default 60)",
    )
    add(
        "--report-every",
        type=int,
        help="env steps between the values handed to the pruner (default: a trial's steps / 30)",
    )
    add(
        "--verbose",
        action="store_true",
        help="show the script's own progress lines (default: to a log file per trial)",
    )
    return parser


def split_argv(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], list[str]]:
    """Tuner tokens (options + the script path) and the script's tokens, in their order."""
    options = parser._option_string_actions
    tuner, forwarded, script = [], [], None
    i = 0
    while i < len(argv):
        token = argv[i]
        name = token.split("=", 1)[0]
        if token == "--":
            forwarded += argv[i + 1 :]
            break
        if name in options:
            tuner.append(token)
            if options[name].nargs != 0 and "=" not in token and i + 1 < len(argv):
                tuner.append(argv[i + 1])
                i += 1
        elif script is None and not token.startswith("-"):
            script = token
        else:
            forwarded.append(token)
        i += 1
    return ([script] if script else []) + tuner, forwarded


def given_fields(tokens: list[str], fields: set[str]) -> set[str]:
    """The Args fields that the script's tokens set (``--hidden-sizes``, ``--no-anneal-lr``)."""
    names = set()
    for token in tokens:
        if token.startswith("--"):
            name = token[2:].split("=", 1)[0].replace("-", "_")
            if name not in fields and name.startswith("no_") and name[3:] in fields:
                name = name[3:]
            names.add(name)
    return names


# --- the script ---------------------------------------------------------------------------


def load_script(path: str):
    file = Path(path)
    if not file.is_file():
        fail(f"no script at '{path}'")
    spec = importlib.util.spec_from_file_location(f"fdrl_tuned_{file.stem}", file)
    if spec is None or spec.loader is None:
        fail(f"cannot import '{path}' (not a Python file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through sys.modules
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:
        fail(f"cannot import '{path}': {type(err).__name__}: {one_line(str(err))}")
    args_cls, train = getattr(module, "Args", None), getattr(module, "train", None)
    if not (dataclasses.is_dataclass(args_cls) and callable(train)):
        fail(f"'{path}' does not follow the script contract (an Args dataclass and train(args, report))")
    return args_cls, train


def parse_fixed_args(args_cls, tokens: list[str], script: str):
    import tyro

    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer), contextlib.redirect_stdout(buffer):
            return tyro.cli(args_cls, args=tokens, prog=f"python {script}")
    except SystemExit:
        fail(f"{script} arguments: {one_line(buffer.getvalue())}")


# --- the search space ---------------------------------------------------------------------


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


def load_space(opts, script: str, fields: dict, fixed_names: set[str]) -> dict:
    path = Path(opts.space) if opts.space else SPACES_DIR / f"{Path(script).stem}.json"
    space = {}
    if path.is_file():
        try:
            space = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            fail(f"cannot read search space {path}: {err}")
        space.pop("_comment", None)
        check_space(space, fields, str(path), script)
    elif opts.space or not opts.param:
        fail(f"no search space {path}: write one (see tuning/spaces/) or give --space / --param")
    overrides = dict(parse_param(p) for p in opts.param)
    check_space(overrides, fields, "--param", script)
    space.update(overrides)
    for name in fixed_names & set(space):
        if name not in overrides:
            del space[name]  # given as a script argument: held fixed
    if not space:
        fail("the search space is empty (every parameter is fixed by a script argument)")
    return space


def suggest(trial, name: str, spec: dict):
    kind = spec["type"]
    if kind == "float":
        return trial.suggest_float(
            name, spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step")
        )
    if kind == "int":
        return trial.suggest_int(
            name, spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step", 1)
        )
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
    return tuple(value) if isinstance(getattr(fixed, name), tuple) and isinstance(value, list) else value


def cli_tokens(name: str, value) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [flag if value else "--no-" + name.replace("_", "-")]
    if isinstance(value, (list, tuple)):
        return [flag, *map(str, value)]
    return [flag, repr(value) if isinstance(value, float) else str(value)]


# --- storage and study --------------------------------------------------------------------


def open_storage(url: str):
    import optuna

    if url.startswith("journal:"):
        path = Path(url[len("journal:") :])
        if not path.parent.is_dir():
            fail(f"storage '{url}': no folder {path.parent}")
        try:
            from optuna.storages.journal import JournalFileBackend
        except ImportError:  # optuna < 4
            from optuna.storages import JournalFileStorage as JournalFileBackend

        try:
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        except Exception as err:
            fail(f"cannot open storage '{url}': {one_line(str(err))}")
    if "://" not in url:
        fail(
            f"storage '{url}': expected sqlite:///FILE.db, another database URL (postgresql://...) or journal:PATH"
        )
    connect_args = {"timeout": 60} if url.startswith("sqlite") else {"connect_timeout": 10}
    try:
        with creation_lock(url):
            for attempt in range(5):
                try:
                    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": connect_args})
                    if url.startswith("sqlite"):
                        fast_sqlite(storage)
                    return storage
                except Exception as err:
                    # Workers that create a fresh database at the same moment race on its tables.
                    if (
                        not any(m in str(err) for m in ("already exists", "UNIQUE", "duplicate"))
                        or attempt == 4
                    ):
                        raise
                    time.sleep(0.5 * (attempt + 1))
    except ImportError:
        fail(
            f"cannot open storage '{url}': its database driver is not installed "
            "(postgresql://: pip install psycopg2-binary; mysql+pymysql://: pip install pymysql)"
        )
    except Exception as err:
        cause = getattr(err, "orig", None) or err
        fail(f"cannot open storage '{url}': {type(cause).__name__}: {one_line(str(cause))}")


@contextlib.contextmanager
def creation_lock(url: str):
    """Workers of one machine open a SQLite file one at a time (creating its tables races)."""
    folder = Path(url[len("sqlite:///") :]).parent if url.startswith("sqlite:///") else None
    if folder is None or not folder.is_dir():
        yield
        return
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def fast_sqlite(storage) -> None:
    """WAL journal and fewer fsyncs: a trial's ~50 database writes cost ~5 ms instead of ~35 ms
    each. (SQLite is for one machine; many machines use postgresql:// or journal:.)"""
    import sqlalchemy

    def on_connect(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # later connections are new ones, with the pragmas


def make_pruner(opts, trial_steps: int | None):
    import optuna

    if opts.pruner == "none":
        return optuna.pruners.NopPruner()
    if opts.min_resource:
        min_resource = opts.min_resource
    else:
        min_resource = max(1, trial_steps // 9) if trial_steps else "auto"
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


def is_evaluated(trial) -> bool:
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and not trial.user_attrs.get("lost", False)


def mark_lost(study, trial_id: int, reason: str) -> bool:
    """Record a trial as FAIL that does not count towards the target; False if already finished."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = study._storage
    try:
        storage.set_trial_user_attr(trial_id, "lost", True)
        storage.set_trial_user_attr(trial_id, "fail_reason", reason)
        return storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except UpdateFinishedTrialError:
        return False


def worker_gone(worker: str | None) -> bool:
    """True when the worker ``host:pid`` ran on this host and its process no longer exists."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def sweep_lost(study, grace: float) -> None:
    """Declare lost the RUNNING trials whose worker is gone or silent for ``grace`` seconds."""
    from optuna.trial import TrialState

    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        beat = trial.user_attrs.get("heartbeat_unix")
        if beat is None and trial.datetime_start is not None:
            beat = trial.datetime_start.timestamp()
        if worker_gone(worker):
            reason = f"worker {worker} died (its process is gone)"
        elif beat is not None and now - beat > grace:
            reason = f"worker {worker} sent no heartbeat for {now - beat:.0f} s (killed or lost?)"
        else:
            continue
        if mark_lost(study, trial._trial_id, reason):
            print(f"trial {trial.number} LOST: {reason}; it does not count", flush=True)


class Heartbeat:
    """Writes the trial's ``heartbeat_unix`` user attribute every ``interval`` seconds."""

    def __init__(self, study, trial_id: int, interval: float):
        self.storage, self.trial_id, self.interval = study._storage, trial_id, interval
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # a missed beat is harmless; the next one retries
                self.storage.set_trial_user_attr(self.trial_id, "heartbeat_unix", time.time())
            if self.stop_event.wait(self.interval):
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join()


class Tee(io.TextIOBase):
    """stderr during a trial: everything to the trial's log, to the terminal all but the script's
    ``error: ...`` line (the tuner reports it); remembers that line and whether a signal stopped
    training."""

    def __init__(self, terminal, log):
        self.terminal, self.log = terminal, log
        self.partial = ""
        self.error_line: str | None = None
        self.stopped_by: str | None = None

    def write(self, text: str) -> int:
        self.log.write(text)
        self.partial += text
        *lines, self.partial = self.partial.split("\n")
        for line in lines:
            if line.startswith("error: "):
                self.error_line = line[len("error: ") :]
                continue
            if line.startswith("stopped by SIG"):
                self.stopped_by = line.split()[2].rstrip(";")
            self.terminal.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        if self.partial:
            self.terminal.write(self.partial)
            self.partial = ""
        self.terminal.flush()
        self.log.flush()

    def fileno(self) -> int:
        return self.terminal.fileno()


# --- one trial ----------------------------------------------------------------------------


class Outcome:
    def __init__(self):
        self.state = "COMPLETE"
        self.value: float | None = None
        self.reason: str | None = None
        self.pruned_at: int | None = None
        self.last_value = float("nan")
        self.steps = 0
        self.user_error = False
        self.fatal = False
        self.interrupted: str | None = None


def run_trial(ctx, trial) -> Outcome:
    params = {name: suggest(trial, name, spec) for name, spec in ctx.space.items()}
    trial.set_user_attr("worker", ctx.worker)
    out = Outcome()
    fixed = ctx.fixed
    fields = {f.name for f in dataclasses.fields(fixed)}
    finals: list[float] = []
    log_path = ctx.trial_dir / "logs" / f"trial_{trial.number:04d}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log, Heartbeat(ctx.study, trial._trial_id, ctx.opts.heartbeat_interval):
        offset = 0
        for j in range(ctx.opts.seeds):
            changes = {name: to_field(fixed, name, value) for name, value in params.items()}
            if "seed" in fields:
                changes["seed"] = fixed.seed + j
            if "runs_dir" in fields:
                changes["runs_dir"] = str(ctx.trial_dir)
            if "exp_name" in fields:
                changes["exp_name"] = f"{fixed.exp_name}-t{trial.number}"
            args = dataclasses.replace(fixed, **changes)
            last_step = 0

            def report(step: int, mean_return: float, j=j, offset=offset) -> bool:
                nonlocal last_step
                at = offset + int(step)
                crossed = at // ctx.report_every != (offset + last_step) // ctx.report_every
                last_step = int(step)
                if not crossed or not math.isfinite(mean_return):
                    return False  # each report is a database round trip (~50 ms on SQLite)
                out.last_value = (sum(finals) + mean_return) / (j + 1)
                trial.report(out.last_value, offset + int(step))
                if trial.should_prune():
                    out.pruned_at = offset + int(step)
                    return True
                return False

            tee = Tee(sys.stderr, log)
            # A script that raises mid-run leaves its SIGINT/SIGTERM handlers behind: restore ours.
            handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                stdout = sys.stdout if ctx.opts.verbose else log
                with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(tee):
                    try:
                        summary = ctx.train(args, report)
                    finally:
                        tee.flush()
                        for sig, handler in handlers.items():
                            signal.signal(sig, handler)
            except SystemExit as err:
                out.steps += last_step
                if tee.stopped_by or err.code in (130, 143):
                    out.interrupted = tee.stopped_by or f"exit {err.code}"
                else:
                    out.state, out.user_error = "FAIL", err.code == 2
                    out.reason = (
                        f"exit {err.code}: {tee.error_line or 'the script exited'} (seed {args.seed})"
                    )
                return out
            except KeyboardInterrupt:
                out.steps += last_step
                out.interrupted = "SIGINT"
                return out
            except Exception as err:
                out.steps += last_step
                out.state, out.reason = "FAIL", f"{type(err).__name__}: {err} (seed {args.seed})"
                return out
            step = int(summary.get("global_step", last_step)) if isinstance(summary, dict) else last_step
            out.steps += step
            offset += step
            if out.pruned_at is not None:
                out.state = "PRUNED"
                return out
            try:
                final = float(summary["final_return"])
            except (TypeError, KeyError, ValueError):
                final = float("nan")
            if not math.isfinite(final):
                out.state = "FAIL"
                out.reason = (
                    f"final_return is {final} (seed {args.seed}): training diverged or no episode finished"
                )
                return out
            finals.append(final)
    out.value = sum(finals) / len(finals)
    return out


def finish_trial(ctx, trial, out: Outcome, wall: float) -> None:
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    try:
        trial.set_user_attr("steps", out.steps)
        trial.set_user_attr("wall_s", round(wall, 2))
        if ctx.trial_steps:
            trial.set_user_attr("max_steps", ctx.trial_steps)
        if out.pruned_at is not None:
            trial.set_user_attr("pruned_at", out.pruned_at)
        out.fatal = out.user_error and ctx.first_user_error_is_fatal()
        if out.interrupted or out.fatal:
            mark_lost(ctx.study, trial._trial_id, out.reason or f"interrupted by {out.interrupted}")
        elif out.state == "FAIL":
            trial.set_user_attr("fail_reason", out.reason)
            ctx.study.tell(trial, state=TrialState.FAIL)
        elif out.state == "PRUNED":
            ctx.study.tell(trial, state=TrialState.PRUNED)
        else:
            ctx.study.tell(trial, out.value)
    except UpdateFinishedTrialError:
        out.state, out.reason = (
            "LOST",
            "another worker declared this trial lost (no heartbeat); result dropped",
        )


# --- the run ------------------------------------------------------------------------------


class Context:
    pass


def params_text(ctx, params: dict) -> str:
    return " ".join(f"{k}={fmt(decode(ctx.space.get(k), v))}" for k, v in params.items())


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def progress_line(ctx, trial, out: Outcome, wall: float) -> str:
    trials = ctx.study.get_trials(deepcopy=False)
    done = sum(map(is_evaluated, trials))
    head = f"[{done:>3}/{ctx.opts.n_trials}] trial {trial.number:>3} "
    if out.interrupted:
        return f"{head}INTERRUPTED ({out.interrupted}) after {out.steps:,} steps; not counted"
    if out.state == "LOST":
        return f"{head}LOST: {out.reason}"
    if out.state == "FAIL":
        return f"{head}FAILED ({wall:.0f} s): {out.reason}  {params_text(ctx, trial.params)}"
    if out.state == "PRUNED":
        status = f"PRUNED at step {out.pruned_at:,}  value {out.last_value:8.2f}"
    else:
        status = f"COMPLETE  value {out.value:8.2f}"
    return f"{head}{status}  {wall:5.0f} s  {params_text(ctx, trial.params)}"


def best_report(ctx) -> int:
    """Print the study's state, pruning savings and the best trial's command; write its JSON."""
    from optuna.trial import TrialState

    trials = ctx.study.get_trials(deepcopy=False)
    counts = {s: sum(t.state == s for t in trials) for s in TrialState}
    lost = sum(1 for t in trials if t.state == TrialState.FAIL and t.user_attrs.get("lost"))
    print(
        f"study {ctx.study.study_name}: {sum(map(is_evaluated, trials))} evaluated trials "
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
    if not counts[TrialState.COMPLETE]:
        print("no trial completed yet: no best arguments")
        return 1
    best = ctx.study.best_trial
    params = {k: to_field(ctx.fixed, k, decode(ctx.space.get(k), v)) for k, v in best.params.items()}
    tokens = list(ctx.forwarded)
    for name, value in params.items():
        tokens += cli_tokens(name, value)
    command = f"python {shlex.join([ctx.script, *tokens])}"
    args = dataclasses.replace(ctx.fixed, **params)
    seeds = (
        f" (seed {args.seed}; the objective was the mean over {ctx.opts.seeds} seeds)"
        if ctx.opts.seeds > 1
        else ""
    )
    print(f"best: trial {best.number}, value {best.value:.2f}{seeds}\n  {command}")
    out = (
        Path(ctx.opts.out)
        if ctx.opts.out
        else ctx.store_dir / f"{ctx.study.study_name.replace('/', '_')}.best.json"
    )
    record = {
        "study": ctx.study.study_name,
        "storage": ctx.opts.storage,
        "script": ctx.script,
        "trial": best.number,
        "value": best.value,
        "seeds": ctx.opts.seeds,
        "params": params,
        "command": command,
        "args": dataclasses.asdict(args),
    }
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
        os.replace(tmp, out)
    except OSError as err:
        fail(f"cannot write {out}: {err}", 1)
    print(f"best arguments written to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    tuner_tokens, forwarded = split_argv(parser, sys.argv[1:] if argv is None else argv)
    opts = parser.parse_args(tuner_tokens)
    try:
        import optuna  # noqa: F401
    except ImportError:
        fail("tuning needs the optional package 'optuna': pip install -e '.[tune]'")
    if opts.n_trials < 1 or opts.seeds < 1 or opts.heartbeat_interval <= 0 or opts.heartbeat_grace <= 0:
        fail("--n-trials, --seeds, --heartbeat-interval and --heartbeat-grace must be positive")
    args_cls, train = load_script(opts.script)
    fields = {f.name: f for f in dataclasses.fields(args_cls)}
    if opts.seeds > 1 and "seed" not in fields:
        fail(f"--seeds {opts.seeds}: {opts.script}'s Args has no 'seed' field")
    space = load_space(opts, opts.script, fields, given_fields(forwarded, set(fields)))
    fixed = parse_fixed_args(args_cls, forwarded, opts.script)

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(opts.storage)

    ctx = Context()
    ctx.opts, ctx.script, ctx.space, ctx.fixed, ctx.train, ctx.forwarded = (
        opts,
        opts.script,
        space,
        fixed,
        train,
        forwarded,
    )
    ctx.worker = f"{socket.gethostname()}:{os.getpid()}"
    total = getattr(fixed, "total_timesteps", None)
    ctx.trial_steps = total * opts.seeds if isinstance(total, int) else None
    ctx.report_every = opts.report_every or max(1, (ctx.trial_steps or 0) // 30)
    env_id = getattr(fixed, "env_id", None)
    name = opts.study_name or "-".join(filter(None, [Path(opts.script).stem, env_id]))
    ctx.trial_dir = Path(getattr(fixed, "runs_dir", "runs")) / "tune" / name.replace("/", "_")
    if opts.storage.startswith("sqlite:///") and opts.storage != "sqlite:///:memory:":
        ctx.store_dir = Path(opts.storage[len("sqlite:///") :]).parent
    elif opts.storage.startswith("journal:"):
        ctx.store_dir = Path(opts.storage[len("journal:") :]).parent
    else:
        ctx.store_dir = Path(".")

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
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction="maximize",
            sampler=sampler,
            pruner=make_pruner(opts, ctx.trial_steps),
            load_if_exists=True,
        )
    except Exception as err:
        fail(f"cannot open study '{name}' in {opts.storage}: {type(err).__name__}: {one_line(str(err))}")
    ctx.study = study

    problem = {
        k: v
        for k, v in json.loads(json.dumps(dataclasses.asdict(fixed), default=str)).items()
        if k not in MACHINE_LOCAL
    }
    problem = {k: v for k, v in problem.items() if k not in space}
    recorded = study.user_attrs.get("fixed_args")
    if recorded is None:
        study.set_user_attr("fixed_args", problem)
        study.set_user_attr("script", Path(opts.script).name)
        study.set_user_attr("seeds", opts.seeds)
    else:
        diff = sorted(k for k in set(recorded) | set(problem) if recorded.get(k) != problem.get(k))
        if diff or study.user_attrs.get("seeds", 1) != opts.seeds:
            what = ", ".join(f"{k}={recorded.get(k)!r} (now {problem.get(k)!r})" for k in diff) or "--seeds"
            fail(
                f"study '{name}' was started with other fixed arguments: {what}; use --study-name for a new study"
            )

    def first_user_error_is_fatal() -> bool:
        """A script's bad-input exit (2) is fatal while nothing in the study has ever run."""
        done = study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        )
        return not done

    ctx.first_user_error_is_fatal = first_user_error_is_fatal
    print(
        f"study {name} in {opts.storage}: target {opts.n_trials} evaluated trials, pruner {opts.pruner}, "
        f"{opts.seeds} seed(s), worker {ctx.worker}; trial runs in {ctx.trial_dir}",
        flush=True,
    )
    waiting_for = None
    while True:
        sweep_lost(study, opts.heartbeat_grace)
        trials = study.get_trials(deepcopy=False)
        done = sum(map(is_evaluated, trials))
        running = [t.number for t in trials if t.state == optuna.trial.TrialState.RUNNING]
        if done >= opts.n_trials:
            break
        if done + len(running) >= opts.n_trials:
            if waiting_for != running:
                print(
                    f"waiting for trials {running} of other workers ({done}/{opts.n_trials} evaluated)",
                    flush=True,
                )
                waiting_for = running
            time.sleep(min(opts.heartbeat_interval, 5.0))
            continue
        trial = study.ask()
        ahead = sum(
            1
            for t in study.get_trials(deepcopy=False)
            if t.number < trial.number and (is_evaluated(t) or t.state == optuna.trial.TrialState.RUNNING)
        )
        if ahead >= opts.n_trials:  # another worker took the last slot at the same moment
            mark_lost(study, trial._trial_id, "surplus: the target was reached by other workers")
            continue
        start = time.time()
        try:
            out = run_trial(ctx, trial)
        except KeyboardInterrupt:
            out = Outcome()
            out.interrupted = "SIGINT"
        finish_trial(ctx, trial, out, time.time() - start)
        print(progress_line(ctx, trial, out, time.time() - start), flush=True)
        if out.interrupted:
            best_report(ctx)
            print(
                f"interrupted by {out.interrupted}: rerun the same command to continue the study",
                file=sys.stderr,
            )
            return 130
        if out.fatal:
            fail(f"trial {trial.number}: {out.reason}; check the fixed arguments and the search space")
    return best_report(ctx)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to continue the study", file=sys.stderr)
        sys.exit(130)
