"""Writing and reading benchmark result lines (standard library only: the SB3 venv imports it too).

Every finished run is one JSON object on one line of ``benchmarks/results/<suite>.jsonl``. A line is
appended with one ``write`` on a file opened with ``O_APPEND`` (and under an exclusive ``flock``),
so parallel jobs on one machine never interleave; nothing is ever rewritten, and result files from
many machines merge by concatenation (``cat a.jsonl >> benchmarks/results/classic.jsonl``).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import math
import os
import platform
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"


def _clean(value):
    """JSON has no NaN: a run that finished no episode reports final_return null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


# Args fields that say where files go, how a run is watched or how many CPU threads it uses, not
# what it learns: two runs that differ only in these (and the seed) ran the same configuration.
NOT_CONFIG = frozenset(
    {
        "seed",
        "runs_dir",
        "resume",
        "capture_video",
        "save_model",
        "checkpoint_every",
        "checkpoint_buffer",
        "cuda",
        "exp_name",
        "torch_threads",
        "env_threads",
    }
)


# A result line's learning curve: at most this many (global_step, mean_return) points.
CURVE_POINTS = 200


def thin_curve(rows: list) -> list[list[float]]:
    """(global_step, mean_return) pairs thinned to at most CURVE_POINTS, evenly, the last kept."""
    if len(rows) > CURVE_POINTS:
        stride = len(rows) / CURVE_POINTS
        rows = [rows[int(i * stride)] for i in range(CURVE_POINTS - 1)] + [rows[-1]]
    return [[int(step), round(float(ret), 4)] for step, ret in rows]


def config_value(value):
    """A hashable, JSON-independent form of an Args value (lists and tuples compare equal)."""
    if isinstance(value, list | tuple):
        return tuple(config_value(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, config_value(v)) for k, v in value.items()))
    return value


def without_flags(argv: list[str], flags: tuple[str, ...]) -> list[str]:
    """``argv`` minus each of ``flags`` and the value that follows it."""
    kept, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token in flags:
            skip = True
        else:
            kept.append(token)
    return kept


def config_of(record: dict) -> tuple:
    """The configuration a result line ran: its resolved Args minus seed and where-files-go fields."""
    args = record.get("args") or {}
    return tuple(sorted((k, config_value(v)) for k, v in args.items() if k not in NOT_CONFIG))


def results_dir_of(explicit: str | os.PathLike | None = None) -> Path:
    """``explicit``, else $FDRL_RESULTS_DIR (one folder per cluster task, merged later), else
    benchmarks/results."""
    return Path(explicit or os.environ.get("FDRL_RESULTS_DIR") or RESULTS_DIR)


def append_record(record: dict, suite: str, results_dir: str | os.PathLike | None = None) -> Path:
    """Append ``record`` as one line to ``<results_dir>/<suite>.jsonl`` in a single write."""
    path = results_dir_of(results_dir) / f"{suite}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(_clean(record), allow_nan=False, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)  # closing releases the lock
    return path


def read_records(path: str | os.PathLike) -> list[dict]:
    """Every complete line of a results file (a torn last line from a killed job is skipped)."""
    records = []
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return records
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def git_commit(paths=("algos", "common", "benchmarks")) -> tuple[str | None, bool | None]:
    """HEAD's commit and whether ``paths`` (the script and common/) differ from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *paths],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return (commit or None), bool(dirty)
    except (OSError, subprocess.SubprocessError):
        return None, None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def hardware(gpu: str | None = None) -> str:
    """One line describing the machine, e.g. 'AMD EPYC 9B14, 2 cores, 24 GiB, no GPU'."""
    memory = _memory_gib()
    parts = [_cpu_model(), f"{os.cpu_count()} cores"]
    if memory:
        parts.append(f"{memory:g} GiB")
    parts.append(gpu or "no GPU")
    return ", ".join(parts)


def common_fields(gpu: str | None = None, paths=("algos", "common", "benchmarks")) -> dict:
    commit, dirty = git_commit(paths)
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "host": socket.gethostname(),
        "hardware": hardware(gpu),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
