"""Results -> docs/BENCHMARKS.md and one PNG of learning curves per env family.

    python benchmarks/report.py                      # or ./benchmark.sh report
    python benchmarks/report.py --results-dir DIR --out OUT.md --images-dir DIR

Reads every line of ``<results-dir>/{classic,mujoco,mujoco1m,atari,throughput,peer_versions}.jsonl``. Our column
is only ever computed from those lines; the peers' columns come from benchmarks/reference_scores.json.
A (script, env) pair of a suite with no result at the suite's budget says "not run". A suite run at a
budget the peers publish (mujoco1m: 1M steps) also gets one row per env with ours beside the peers'
numbers at that budget. Where a learning suite also ran Stable-Baselines3's same algorithm beside
ours (``--sb3-python``: lines with ``measure`` "sb3"), its tables get an "SB3 (same budget)" column and
its curves a dashed SB3 curve in the colour of ours.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import shlex
import statistics
import sys
import warnings
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.record import (  # noqa: E402
    NOT_CONFIG,
    RESULTS_DIR,
    ROOT,
    config_of,
    config_value,
    read_records,
    without_flags,
)
from benchmarks.run import script_defaults, script_fields  # noqa: E402
from benchmarks.suites import ALGORITHM, SB3_ALGORITHM, SUITES  # noqa: E402
from common.scripts import to_argv  # noqa: E402

REFERENCES = Path(__file__).resolve().parent / "reference_scores.json"
PEERS = ["slm-lab", "cleanrl", "rl-zoo"]
LEARNING_SUITES = {
    "classic": "Classic control and Box2D",
    "mujoco": "MuJoCo v5",
    "mujoco1m": "MuJoCo v5 at 1M steps (CleanRL's and RL Zoo's budget)",
    "atari": "Atari (ALE v5, sticky actions 0.25)",
}
# Suites whose envs are compared with the peers' numbers at one budget: {suite: (peers' budget, the
# peers drawn as reference lines in the curves)}; the other suites draw SLM-Lab's final scores.
PEER_BUDGET = {"mujoco1m": (1_000_000, ("cleanrl", "rl-zoo"))}
CURVE_POINTS = 100


def steps_str(steps: int | float | None) -> str:
    if steps is None:
        return "?"
    steps = float(steps)
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if steps >= size:
            value = steps / size
            return f"{value:.{0 if value == int(value) else 1}f}{unit}"
    return f"{int(steps)}"


def _decimals(value: float) -> int:
    return 0 if abs(value) >= 1000 else 1 if abs(value) >= 100 else 2


def num(value: float, decimals: int | None = None) -> str:
    """A score with 3-4 significant digits (498.9, -81.28, 150105)."""
    return f"{value:.{_decimals(value) if decimals is None else decimals}f}"


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return num(values[0])
    mean = statistics.fmean(values)
    return f"{num(mean)} ± {num(statistics.pstdev(values), _decimals(mean))}"


class Hardware:
    """Short ids (H1, H2, ...) for the machines' descriptions, listed under the tables."""

    def __init__(self):
        self.ids: dict[str, str] = {}

    def __call__(self, description: str) -> str:
        if description not in self.ids:
            self.ids[description] = f"H{len(self.ids) + 1}"
        return self.ids[description]

    def legend(self) -> list[str]:
        return [f"- {hid}: {desc}" for desc, hid in self.ids.items()]


def load_references(path: Path = REFERENCES) -> dict:
    data = json.loads(path.read_text())
    table = defaultdict(list)
    for row in data["scores"]:
        table[(row["source"], row["algo"], row["env_id"])].append(row)
    return {"sources": data["sources"], "scores": table}


def peer_rows(refs: dict, source: str, script: str, env_id: str, steps: int | None = None) -> list[dict]:
    """A peer's quoted scores of the script's algorithm on an env (only those at ``steps`` if given)."""
    rows = refs["scores"].get((source, ALGORITHM.get(script), env_id), [])
    return [row for row in rows if steps is None or row.get("steps") == steps]


def score_text(row: dict) -> str:
    """A quoted score as published: ``score`` [± ``std``]."""
    return f"{row['score']:g}" + (f" ± {row['std']:g}" if "std" in row else "")


def peer_cell(refs: dict, source: str, script: str, env_id: str, steps: int | None = None) -> str:
    """The quoted scores as published, each with its budget (unless ``steps`` fixes it) and note."""
    cells = []
    for row in peer_rows(refs, source, script, env_id, steps):
        score = score_text(row)
        budget = steps_str(row["steps"]) if row.get("steps") and steps is None else None
        extra = ", ".join(x for x in (budget, row.get("note")) if x)
        cells.append(f"{score} ({extra})" if extra else score)
    return "<br>".join(cells) if cells else "–"


def training_records(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("measure", "train") == "train"]


@functools.cache
def current_settings(env_id: str, script: str, suite: str | None = None) -> tuple:
    """The Args a learning suite runs (script, env) with today: the script's defaults, read from its
    source, under the suite entry's overrides (``suite``'s, else the last learning suite's with the
    env); as sorted (field, value) pairs."""
    if not (ROOT / "algos" / f"{script}.py").exists():
        return ()
    overrides = {}
    for name in [suite] if suite else LEARNING_SUITES:
        for entry in SUITES[name]["entries"]:
            if entry["env_id"] == env_id:
                overrides = entry.get("overrides", {}).get(script, {})
    settings = {**script_defaults(script), **overrides, "env_id": env_id}
    skip = NOT_CONFIG | {"total_timesteps"}  # the budget: the caller groups runs by it
    return tuple(sorted((k, config_value(v)) for k, v in settings.items() if k not in skip))


def runs_settings(record: dict, settings: tuple) -> bool:
    """Whether a result line ran with ``settings`` (fields it does not record are not compared)."""
    args = record.get("args") or {}
    return all(config_value(args[k]) == v for k, v in settings if k in args)


def latest_config(runs: list[dict], settings: tuple = ()) -> tuple[list[dict], int]:
    """The runs of one configuration (resolved Args minus seed), the latest per seed, and how many
    other runs a cell leaves out: the newest configuration that matches ``settings`` (what the suite
    runs today: tuned defaults and overrides supersede older results, a reverted try does not),
    else the newest configuration."""
    if not runs:
        return [], 0
    by_config = defaultdict(list)
    for r in runs:
        by_config[config_of(r)].append(r)
    current = [group for group in by_config.values() if settings and runs_settings(group[0], settings)]
    newest = max(current or by_config.values(), key=lambda group: max(r.get("date", "") for r in group))
    per_seed = {}  # a seed run again with the same settings: its latest run counts
    for r in sorted(newest, key=lambda r: r.get("date", "")):
        per_seed[r.get("seed")] = r
    return list(per_seed.values()), len(runs) - len(per_seed)


def _sb3_config(record: dict) -> tuple:
    return json.dumps(record.get("sb3_hparams"), sort_keys=True), record.get("num_envs", 1)


def _translated(ours: dict) -> tuple | None:
    """The SB3 configuration ``sb3_job`` runs for a result line of ours (None: it has no Args)."""
    from benchmarks.sb3_params import sb3_hparams

    algo = SB3_ALGORITHM.get(Path(ours["script"]).stem)
    if not algo or not ours.get("args"):
        return None
    hparams, _ = sb3_hparams(algo, SimpleNamespace(**ours["args"]))
    return _sb3_config(
        {"sb3_hparams": json.loads(json.dumps(hparams)), "num_envs": ours["args"].get("num_envs", 1)}
    )


def sb3_runs(records: list[dict], env_id: str, script: str, steps: int, ours: list[dict]) -> list[dict]:
    """SB3's learning runs of a cell (``measure`` "sb3", same env, script and budget), the latest per
    seed of one configuration: the translation of the Args of ``ours`` (the runs of ours the cell
    shows) where SB3 ran it, else SB3's newest configuration."""
    by_config = defaultdict(list)
    for r in records:
        if r.get("measure") == "sb3" and r["env_id"] == env_id and Path(r["script"]).stem == script:
            if r["total_timesteps"] == steps:
                by_config[_sb3_config(r)].append(r)
    if not by_config:
        return []
    wanted = _translated(ours[0]) if ours else None
    newest = max(by_config.values(), key=lambda group: max(r.get("date", "") for r in group))
    per_seed = {}
    for r in sorted(by_config.get(wanted, newest), key=lambda r: r.get("date", "")):
        per_seed[r.get("seed")] = r
    return list(per_seed.values())


def greedy_text(group: list[dict]) -> str:
    """ "; greedy X (n)": the mean over the runs of ``group`` that have one of their final policy's greedy
    evaluation (``--eval-episodes``), the protocol of RL Zoo's scores; "" when none has."""
    evals = [r["eval_return"] for r in group if r.get("eval_return") is not None]
    return f"; greedy {mean_std(evals)} ({len(evals)})" if evals else ""


def ours_cell(group: list[dict]) -> str:
    """Our runs' final returns in bold, mean ± std (number of runs), and their greedy evaluation if any."""
    returns = [r["final_return"] for r in group if r.get("final_return") is not None]
    text = f"**{mean_std(returns)}** ({len(returns)})" if returns else "no episode finished"
    return text + greedy_text(group)


def sb3_cell(runs: list[dict], ours: list[dict] = ()) -> str:
    """SB3's final returns: mean ± std over seeds (number of seeds); – where SB3 did not run; marked
    "other settings" where SB3 ran another configuration than the translation of ``ours``."""
    returns = [r["final_return"] for r in runs if r.get("final_return") is not None]
    if not runs:
        return "–"
    other = "; other settings" if ours and _sb3_config(runs[0]) != _translated(ours[0]) else ""
    text = f"{mean_std(returns)} ({len(returns)}{other})" if returns else "no episode finished"
    return text + greedy_text(runs)


def suite_table(
    suite: str, records: list[dict], refs: dict, hardware: Hardware
) -> tuple[list[str], list[str]]:
    """Markdown table rows of one learning suite, and the env ids with no row (Atari: neither result nor peer)."""
    by_pair = defaultdict(list)
    for r in training_records(records):
        by_pair[(r["env_id"], Path(r["script"]).stem)].append(r)
    sb3_budgets = defaultdict(set)  # SB3's side-by-side runs: the column shows only where there are some
    for r in records:
        if r.get("measure") == "sb3":
            sb3_budgets[(r["env_id"], Path(r["script"]).stem)].add(r["total_timesteps"])
    sb3_title = " SB3 (same budget): mean ± std (seeds) |" if sb3_budgets else ""
    header = [
        f"| env | script | budget | ours: final return (mean ± std) |{sb3_title} runs (seeds) | wall / run | SPS "
        "| hardware | SLM-Lab | CleanRL | SB3 / RL Zoo |",
        "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if sb3_budgets else ""),
    ]
    rows, hidden = [], []
    for entry in SUITES[suite]["entries"]:
        env_id = entry["env_id"]
        has_any = any(by_pair.get((env_id, s)) for s in entry["budgets"]) or any(
            refs["scores"].get((src, ALGORITHM[s], env_id)) for src in PEERS for s in entry["budgets"]
        )
        if suite == "atari" and not has_any:
            hidden.append(env_id)
            continue
        for script, budget in entry["budgets"].items():
            runs = by_pair.get((env_id, script), [])
            sb3_steps = sb3_budgets.get((env_id, script), set())
            budgets = sorted({r["total_timesteps"] for r in runs} | sb3_steps | {budget}, reverse=True)
            peers = [peer_cell(refs, src, script, env_id) for src in PEERS]
            exists = (ROOT / "algos" / f"{script}.py").exists()
            for steps in budgets:
                group, superseded = latest_config(
                    [r for r in runs if r["total_timesteps"] == steps],
                    current_settings(env_id, script, suite),
                )
                label = steps_str(steps) + ("" if steps == budget else f" (×{steps / budget:.2g})")
                sb3 = (
                    f" {sb3_cell(sb3_runs(records, env_id, script, steps, group), group)} |"
                    if sb3_budgets
                    else ""
                )
                if not group:
                    ours = "not run" if exists else "not run (script not written yet)"
                    rows.append(
                        f"| {env_id} | {script} | {label} | {ours} |{sb3} 0 | | | | {' | '.join(peers)} |"
                    )
                    continue
                returns = [r["final_return"] for r in group if r.get("final_return") is not None]
                seeds = sorted({r["seed"] for r in group})
                ours = (mean_std(returns) if returns else "no episode finished") + greedy_text(group)
                wall = duration(statistics.fmean(r["wall_s"] for r in group))
                sps = f"{statistics.fmean(r['sps'] for r in group):,.0f}"
                hw = ", ".join(sorted({hardware(r.get("hardware", "?")) for r in group}))
                seed_text = f"{len(group)} ({','.join(map(str, seeds))})"
                if superseded:
                    seed_text += f"; {superseded} earlier run(s) not shown"
                rows.append(
                    f"| {env_id} | {script} | {label} | **{ours}** |{sb3} {seed_text} | {wall} | {sps} | {hw} "
                    f"| {' | '.join(peers)} |"
                )
    return header + rows, hidden


def peer_budget_table(suite: str, records: list[dict], refs: dict) -> list[str]:
    """One row per env of a suite run at the peers' budget: per script, ours at the suite's budget
    (mean ± std over seeds, number of seeds) beside each peer that publishes a score at that budget
    for any env of the suite (their env version in brackets where it differs from ours)."""
    steps, _ = PEER_BUDGET[suite]
    entries = SUITES[suite]["entries"]
    by_pair = defaultdict(list)
    for r in training_records(records):
        by_pair[(r["env_id"], Path(r["script"]).stem)].append(r)
    columns = []  # (script, None: ours | "sb3": SB3 run here | peer source)
    for script in dict.fromkeys(s for e in entries for s in e["budgets"]):
        columns.append((script, None))
        if any(r.get("measure") == "sb3" and Path(r["script"]).stem == script for r in records):
            columns.append((script, "sb3"))
        columns += [
            (script, src)
            for src in PEERS
            if any(peer_rows(refs, src, script, e["env_id"], steps) for e in entries)
        ]
    titles = []
    for script, src in columns:
        if src is None:
            budgets = {e["budgets"][script] for e in entries if script in e["budgets"]}
            titles.append(f"{script}: ours ({'/'.join(steps_str(b) for b in sorted(budgets))})")
        elif src == "sb3":
            titles.append(f"{script}: SB3 {SB3_ALGORITHM[script]} (same budget)")
        else:
            titles.append(f"{refs['sources'][src]['name']} {ALGORITHM[script].upper()} ({steps_str(steps)})")
    lines = ["| env | " + " | ".join(titles) + " |", "|---" * (len(columns) + 1) + "|"]
    for entry in entries:
        env_id, cells = entry["env_id"], []
        for script, src in columns:
            if src not in (None, "sb3"):
                cells.append(peer_cell(refs, src, script, env_id, steps))
                continue
            budget = entry["budgets"].get(script)
            runs = [r for r in by_pair.get((env_id, script), []) if r["total_timesteps"] == budget]
            group, _ = latest_config(runs, current_settings(env_id, script, suite))
            if src == "sb3":
                sb3 = sb3_runs(records, env_id, script, budget, group) if budget else []
                cells.append(sb3_cell(sb3, group))
                continue
            if budget is None:
                cells.append("–")
            elif not group:
                cells.append("not run")
            else:
                cells.append(ours_cell(group))
        lines.append(f"| {env_id} | " + " | ".join(cells) + " |")
    return lines


def peer_version_table(records: list[dict], refs: dict) -> list[str]:
    """Our runs on a peer's own env version (``peer_versions.jsonl``: e.g. Humanoid-v4, the version of
    CleanRL's PPO table), beside the scores that peers quote for that version and budget."""
    groups = defaultdict(list)
    for r in training_records(records):
        groups[(r["env_id"], Path(r["script"]).stem, r["total_timesteps"])].append(r)
    lines = [
        "| env | script | budget | ours: final return (seeds) | peers on that version, same budget |",
        "|---|---|---|---|---|",
    ]
    for (env_id, script, steps), group in sorted(groups.items()):
        peers = [
            f"{refs['sources'][src]['name']} {score_text(row)}"
            for (src, algo, _), rows in refs["scores"].items()
            if algo == ALGORITHM.get(script)
            for row in rows
            if row.get("note") == env_id and row.get("steps") == steps
        ]
        cells = [env_id, script, steps_str(steps), ours_cell(group), "<br>".join(peers) or "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def tuned_commands() -> list[str]:
    """Per learning suite, env and script with overrides: the command that trains the script as the
    suite does (seed 1, the suite's budget), for a user of ``python algos/X.py``."""
    lines = ["| suite | env | command (seed 1, the suite's budget) |", "|---|---|---|"]
    for suite in LEARNING_SUITES:
        for entry in SUITES[suite]["entries"]:
            for script, overrides in entry.get("overrides", {}).items():
                budget = entry["budgets"].get(script)
                if budget is None or not (ROOT / "algos" / f"{script}.py").exists():
                    continue
                flags = to_argv(overrides, script_fields(script), [])
                argv = ["python", f"algos/{script}.py", "--env-id", entry["env_id"], "--total-timesteps"]
                lines.append(
                    f"| {suite} | {entry['env_id']} | `{shlex.join([*argv, str(budget), *flags])}` |"
                )
    return lines


def provenance(records: list[dict]) -> str:
    """Where the numbers come from: how many runs, when, at which commits."""
    runs = training_records(records)
    if not runs:
        return "No runs yet."
    dates = sorted(r.get("date", "?")[:10] for r in runs)
    latest = max(runs, key=lambda r: r.get("date", ""))
    commits = {r.get("git_commit") for r in runs}
    dirty = sum(bool(r.get("git_dirty")) for r in runs)
    span = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    text = f"{len(runs)} run(s), {span}, {len(commits)} commit(s), latest {(latest.get('git_commit') or '?')[:7]}"
    if dirty:
        text += f"; {dirty} run(s) with uncommitted changes to their script or common/"
    return text + "."


def _curve_groups(
    records: list[dict], env_id: str, suite: str | None = None
) -> dict[tuple[str, int], tuple[list[list], list[list]]]:
    """Per (script, budget) with a curve on ``env_id``: (our curves, SB3's curves), one per seed shown."""
    cells = defaultdict(list)
    for r in training_records(records):
        if r["env_id"] == env_id and r.get("curve"):
            cells[(Path(r["script"]).stem, r["total_timesteps"])].append(r)
    for r in records:
        if r.get("measure") == "sb3" and r["env_id"] == env_id:
            cells.setdefault((Path(r["script"]).stem, r["total_timesteps"]), [])
    groups = {}
    for (script, steps), runs in cells.items():
        ours = latest_config(runs, current_settings(env_id, script, suite))[0]
        sb3 = sb3_runs(records, env_id, script, steps, ours)
        curves = ([r["curve"] for r in ours], [r["curve"] for r in sb3 if r.get("curve")])
        if curves[0] or curves[1]:
            groups[(script, steps)] = curves
    return groups


def _mean_band(curves: list[list], grid):
    """Mean, min and max over seeds of curves interpolated on ``grid`` (NaN before a curve's first point)."""
    import numpy as np

    ys = []
    for curve in curves:
        xs, rs = np.array(curve, dtype=float).T
        y = np.interp(grid, xs, rs)
        y[grid < xs[0]] = np.nan
        ys.append(y)
    ys = np.array(ys)
    with warnings.catch_warnings():  # all-NaN columns before the first episode ends
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(ys, 0), np.nanmin(ys, 0), np.nanmax(ys, 0)


REF_LINESTYLES = {"slm-lab": ":", "cleanrl": ":", "rl-zoo": "--"}


def plot_family(
    family: str,
    env_ids: list[str],
    records: list[dict],
    refs: dict,
    path: Path,
    suite: str | None = None,
    ref_sources: tuple[str, ...] = ("slm-lab",),
    ref_steps: int | None = None,
) -> bool:
    """One PNG: a panel per env with results; mean over seeds (line) and min-max (band) per script,
    SB3's run of it beside ours (dashed, same colour) where there is one, and the final scores of
    ``ref_sources`` (at ``ref_steps`` if given) as horizontal lines."""
    env_ids = [e for e in env_ids if _curve_groups(records, e, suite)]
    if not env_ids:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    cols = min(len(env_ids), 3)
    rows = (len(env_ids) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, env_id in zip(axes.flat, env_ids):
        groups = sorted(_curve_groups(records, env_id, suite).items())
        for i, ((script, steps), (ours, sb3)) in enumerate(groups):
            color = colors[i % len(colors)]
            grid = np.linspace(0, steps, CURVE_POINTS)
            for curves, style, name in ((ours, "-", script), (sb3, "--", f"SB3 {SB3_ALGORITHM.get(script)}")):
                if not curves:
                    continue
                mean, low, high = _mean_band(curves, grid)
                label = f"{name} ({steps_str(steps)}, {len(curves)} seeds)"
                ax.plot(grid, mean, color=color, linestyle=style, label=label)
                if len(curves) > 1:
                    ax.fill_between(grid, low, high, color=color, alpha=0.2 if style == "-" else 0.1)
            for source in ref_sources:
                for row in peer_rows(refs, source, script, env_id, ref_steps):
                    ax.axhline(row["score"], color=color, linestyle=REF_LINESTYLES[source], linewidth=1)
        ax.set_title(env_id)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: steps_str(x)))
        ax.set_xlabel("env steps")
        ax.set_ylabel("mean return, last 100 episodes")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(env_ids) :]:
        ax.axis("off")
    fig.suptitle(family)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def settings_of(record: dict) -> str:
    """The arguments of a throughput run beyond env, seed and steps (e.g. ``--torch-threads 2``)."""
    argv = record.get("argv") or []
    return " ".join(without_flags(argv, ("--env-id", "--seed", "--total-timesteps", "--runs-dir")))


SITTING_HOURS = 3


def same_sitting(record: dict, newest: dict) -> bool:
    """Whether a throughput line belongs to the sitting of ``newest``: written at most SITTING_HOURS
    before it (a sitting spans commits when code lands while it runs)."""
    try:
        then = datetime.datetime.fromisoformat(record["date"])
        last = datetime.datetime.fromisoformat(newest["date"])
    except (KeyError, TypeError, ValueError):
        return record.get("git_commit") == newest.get("git_commit")
    return datetime.timedelta(0) <= last - then <= datetime.timedelta(hours=SITTING_HOURS)


def throughput_table(records: list[dict], hardware: Hardware) -> list[str]:
    """One row per (script, env, steps, settings, hardware): medians of the latest sitting (the hours
    up to the cell's newest line), so that figures of older code are not mixed in."""
    # SB3 lines written before they recorded our argv take the settings of our runs of their sitting.
    sitting_settings = {
        (r["script"], r["env_id"], r["total_timesteps"], r.get("git_commit")): settings_of(r)
        for r in records
        if r.get("argv") is not None and r.get("measure") != "sb3"
    }
    cells = defaultdict(list)
    for r in records:
        settings = settings_of(r)
        if r.get("argv") is None:
            key = (r["script"], r["env_id"], r["total_timesteps"], r.get("git_commit"))
            settings = sitting_settings.get(key, settings)
        cells[(r["script"], r["env_id"], r["total_timesteps"], settings, r.get("hardware", "?"))].append(r)
    if not cells:
        return ["Not run yet."]
    lines = [
        "| script | env | steps | settings | threads (ours / SB3) | ours SPS | env-only SPS (physical limit) "
        "| SB3 SPS | ours / SB3 | ours / env-only | reps | hardware | date |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (script, env_id, steps, settings, hw), runs in sorted(cells.items()):
        if not any(r.get("measure", "train") == "train" for r in runs):
            continue  # an SB3 run whose run of ours never finished
        newest = max(runs, key=lambda r: r.get("date", ""))
        sitting = [r for r in runs if same_sitting(r, newest)]
        if any(r.get("clock") for r in sitting if r.get("measure") == "sb3"):
            # SB3 lines timed before sb3_job started its clock where ours starts (before the envs
            # are made) left setup out: they are dropped once lines timed like ours exist.
            sitting = [r for r in sitting if r.get("measure") != "sb3" or r.get("clock")]
        by = defaultdict(list)
        for r in sitting:
            by[r.get("measure", "train")].append(r["sps"])
        med = {m: statistics.median(v) for m, v in by.items()}
        ours, env_only, sb3 = med.get("train"), med.get("env-only"), med.get("sb3")
        cell = lambda v: f"{v:,.0f}" if v is not None else "not run"  # noqa: E731
        ratio = lambda a, b: f"{a / b:.2f}" if a is not None and b else "–"  # noqa: E731
        algo = next((r.get("sb3_algo") for r in sitting if r.get("measure") == "sb3"), None)
        sb3_cell = cell(sb3) + (f" ({algo})" if sb3 is not None and algo else "")
        reps = "/".join(str(len(by.get(m, []))) for m in ("train", "env-only", "sb3"))
        threads = " / ".join(
            "/".join(sorted({str(r["torch_threads"]) for r in sitting if r.get("measure", "train") == m
                             and r.get("torch_threads") is not None})) or "–"
            for m in ("train", "sb3")
        )  # fmt: skip
        lines.append(
            f"| {Path(script).stem} | {env_id} | {steps_str(steps)} | {settings or '–'} | {threads} | {cell(ours)} "
            f"| {cell(env_only)} | {sb3_cell} | {ratio(ours, sb3)} | {ratio(ours, env_only)} | {reps} "
            f"| {hardware(hw)} | {newest.get('date', '?')[:10]} |"
        )
    return lines


COMMANDS = """\
## How to run

Every command appends to `benchmarks/results/<suite>.jsonl` (one JSON line per finished run:
script, env, seed, budget, final return, wall time, SPS, torch threads, device, commit, machine,
date, learning curve) and never rewrites it; `python benchmarks/report.py` renders this page.
Jobs already in the results file are skipped, so a suite can be finished over several sittings
(`--rerun` repeats them).

```bash
./benchmark.sh smoke                                   # every script, 2048 steps (CI: --algos ppo)
./benchmark.sh classic --seeds 4                       # every script x classic env, SLM-Lab budgets
./benchmark.sh classic --algos ppo --envs CartPole-v1,Acrobot-v1 --seeds 2 --jobs 1
./benchmark.sh mujoco --envs Hopper,HalfCheetah --scale 0.1   # a tenth of the budgets
./benchmark.sh throughput --sb3-python /tmp/sb3/bin/python    # ours vs env-only vs SB3, median of 3
./benchmark.sh mujoco1m --algos sac_continuous --envs Hopper,HalfCheetah --seeds 2 \
    --sb3-python /tmp/sb3/bin/python                   # + SB3's SAC beside each run: same budget, seed, Args
./benchmark.sh report                                  # -> docs/BENCHMARKS.md + docs/images/*.png
```

Options: `--seeds N` (seeds 1..N; default 4, SLM-Lab's protocol), `--scale X` (multiplies every
budget), `--jobs N` (parallel jobs, default: the number of cores), `--envs` (ids or short names:
`Breakout,Pong`), `--algos` (script names: `ppo,dqn`), `--set NAME=VALUE` (an Args value for every
job, e.g. `--set torch_threads=2`), `--eval-episodes K` (then K greedy episodes of each final policy: the "greedy" figures), `--cuda`, `--results-dir`, `--runs-dir`, `--print-jobs`. A result
counts as done only while the script's defaults still equal what it ran; each cell shows the newest
configuration that the suite runs today (the script's defaults under benchmarks/suites.py's
overrides), else its newest configuration. A run made by hand: `python benchmarks/run_job.py --suite mujoco --script
algos/sac_continuous.py --from-run runs/<run folder>`; a run longer than one sitting goes in pieces: `--checkpoint-every N`, SIGTERM (it writes a checkpoint and stops), `--resume <run folder>/checkpoints/latest.pt`, then `--from-run` (its wall time sums the pieces). The SB3 venv: `python3 -m venv /tmp/sb3 && /tmp/sb3/bin/pip install "torch==2.13.0"
stable-baselines3 "gymnasium[box2d,mujoco]" ale-py opencv-python-headless` (the last two for the Atari rows); without `--sb3-python` the SB3 column is skipped with
a note. In a learning suite `--sb3-python` adds SB3's same algorithm beside each job that has one
(same budget, seed and translated Args; its curve recorded): the tables get an "SB3 (same budget)"
column, the PNGs SB3's curve dashed.

### Full scale on a GPU machine

```bash
./benchmark.sh classic --seeds 4 --jobs 16             # CPU-bound: one job per core
./benchmark.sh mujoco  --seeds 4 --jobs 8 --cuda
./benchmark.sh atari   --seeds 4 --jobs 8 --cuda      # 57 games x 4 scripts x 4 seeds
./benchmark.sh throughput --sb3-python /tmp/sb3/bin/python
./benchmark.sh report
```

### Many machines (GNU parallel, Slurm)

`--print-jobs` prints one self-contained command per job (run from the repository root, with the
project's venv active), so any scheduler can run a suite:

```bash
./benchmark.sh atari --seeds 4 --cuda --print-jobs > jobs.txt
parallel -j 8 --joblog jobs.log < jobs.txt             # one machine, 8 at a time

# Slurm: one array task per line; each task appends to its own folder, merged afterwards
cat > bench.sbatch <<'EOF'
#!/bin/bash
#SBATCH --gres=gpu:1 --cpus-per-task=4 --time=24:00:00
cd "$SLURM_SUBMIT_DIR" && source .venv/bin/activate
export FDRL_RESULTS_DIR=benchmarks/scratch/slurm/$SLURM_ARRAY_TASK_ID
sed -n "${SLURM_ARRAY_TASK_ID}p" jobs.txt | bash
EOF
sbatch --array=1-$(wc -l < jobs.txt) bench.sbatch
cat benchmarks/scratch/slurm/*/atari.jsonl >> benchmarks/results/atari.jsonl
```

Result files brought back from other machines merge by appending:
`cat other/benchmarks/results/atari.jsonl >> benchmarks/results/atari.jsonl`. On one machine
(or a shared local disk) parallel jobs append safely to one file (`O_APPEND`, one write, `flock`);
over NFS give each machine its own `FDRL_RESULTS_DIR` as above.
"""


def render(results_dir: Path, out: Path, images_dir: Path) -> str:
    refs = load_references()
    hardware = Hardware()
    records = {
        s: read_records(results_dir / f"{s}.jsonl") for s in [*LEARNING_SUITES, "throughput", "peer_versions"]
    }
    image_link = os.path.relpath(images_dir, out.parent)
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python benchmarks/report.py` from `benchmarks/results/*.jsonl`; do not edit by hand.",
        "",
        "**Our score**: mean ± std (population std, over runs) of each run's final return, the mean raw",
        "return of its last 100 training episodes at the end of the budget. Budgets are env steps",
        "(agent steps, SLM-Lab's \"frames\"). The peers' columns are their published numbers, quoted with",
        "their budget and env version where it differs from ours ([sources](#sources)); they are never",
        "copied into our column, and their score definitions differ (see Sources). A cell of ours that",
        "says *not run* has no result at that budget yet; rows marked (×0.1) etc. are runs at a scaled",
        "budget (`--scale`).",
        "",
    ]
    for suite, title in LEARNING_SUITES.items():
        table, hidden = suite_table(suite, records[suite], refs, hardware)
        lines += [
            f"## {title}",
            "",
            f"Suite `{suite}`: {SUITES[suite]['about']}. {provenance(records[suite])}",
            "",
        ]
        if any(r.get("measure") == "sb3" for r in records[suite]):
            lines += [
                "**SB3 (same budget)**: Stable-Baselines3's same algorithm run on our machine beside ours",
                f"(`./benchmark.sh {suite} --sb3-python PATH`): same env, seeds and budget, our Args translated",
                "by `benchmarks/sb3_params.py`; mean ± std over seeds of its last-100-episode return (seeds).",
                "",
            ]
        ref_steps, ref_sources = PEER_BUDGET.get(suite, (None, ("slm-lab",)))
        ref_text = " and ".join(
            f"{'dotted' if REF_LINESTYLES[s] == ':' else 'dashed'} = {refs['sources'][s]['name']}'s"
            for s in ref_sources
        ) + (f" score at {steps_str(ref_steps)}" if ref_steps else " final score")
        families = list(dict.fromkeys(e["family"] for e in SUITES[suite]["entries"]))
        for family in families:
            env_ids = [e["env_id"] for e in SUITES[suite]["entries"] if e["family"] == family]
            # A second suite of a family (mujoco1m) gets its own image: curves_mujoco_1m.png.
            suffix = "_" + suite.removeprefix(family) if suite.startswith(family) and suite != family else ""
            name = f"curves_{family.replace(' ', '_')}{suffix}.png"
            sb3_curves = any(
                r.get("measure") == "sb3" and r["env_id"] in env_ids and r.get("curve")
                for r in records[suite]
            )
            sb3_text = ", dashed curve = SB3's run of the same cell" if sb3_curves else ""
            if plot_family(
                family, env_ids, records[suite], refs, images_dir / name, suite, ref_sources, ref_steps
            ):
                lines += [
                    f"Learning curves, {family} ([{name}]({image_link}/{name})): line = mean over seeds, "
                    f"band = min to max{sb3_text}, {ref_text}.",
                    "",
                    f"![{family}]({image_link}/{name})",
                    "",
                ]
        if suite in PEER_BUDGET:
            lines += [
                f"Ours (mean ± std over seeds, number of seeds) beside the peers' published scores at "
                f"{steps_str(ref_steps)} steps, their env version in brackets ([sources](#sources)); "
                '– : none published. Ours is the mean of the last 100 training episodes; "greedy", where '
                "shown, the final policy played greedily (`--eval-episodes`), as RL Zoo scores. "
                "The table after it has every cell's seeds, wall time and speed.",
                "",
                *peer_budget_table(suite, records[suite], refs),
                "",
                "<details><summary>Every cell: seeds, wall time, SPS, hardware</summary>",
                "",
                *table,
                "",
                "</details>",
            ]
        else:
            lines += table
        if hidden:
            short = ", ".join(e.removeprefix("ALE/").removesuffix("-v5") for e in hidden)
            lines += ["", f"Not run, and no peer score quoted: {short}."]
        lines.append("")
    if records["peer_versions"]:
        lines += [
            "## On the peers' env versions",
            "",
            "Where a peer published on an older env version than ours (v5), our script run on that version "
            "(`python benchmarks/run_job.py --suite peer_versions ...`; `benchmarks/results/peer_versions.jsonl`), "
            "to tell the version's share of a gap from ours.",
            "",
            *peer_version_table(records["peer_versions"], refs),
            "",
        ]
    lines += [
        "## Tuned settings per env",
        "",
        "A script's defaults are one setting for its whole family (its `Args`); where an env needs",
        "another, the suite passes it as flags (`overrides` in `benchmarks/suites.py`; the runs behind",
        "each value are noted there or in the notes below). To train a script on an env as the tables",
        "above did, run its command below (`--seed N` for other seeds). The same for any cell, tuned",
        "or not:",
        "`./benchmark.sh mujoco1m --envs Hopper --algos a2c_continuous --seeds 1 --print-jobs`",
        "prints the job; the arguments after `--` are the script's.",
        "",
        *tuned_commands(),
        "",
        "## Throughput",
        "",
        "Steps per second of each script for a fixed number of steps, beside the same vector env",
        "stepped with random actions (env-only: the physical limit of any learner on this env and",
        "machine) and beside Stable-Baselines3's implementation of the same algorithm with matching",
        "hyperparameters, measured in the same sitting, interleaved (ours, env-only, SB3, then again),",
        "median of the repetitions. Ratios above 1 mean ours is faster. SB3's arguments are translated",
        "from our script's Args by `benchmarks/sb3_params.py` (rollout length, minibatch size, epochs,",
        "network widths and activation, learning-rate schedule, clipping, buffer and update frequencies);",
        "each result line in `benchmarks/results/throughput.jsonl` holds them.",
        "",
        *throughput_table(records["throughput"], hardware),
        "",
    ]
    notes = ROOT / "benchmarks" / "notes.md"
    if notes.exists():  # hand-written: measurements that are not result lines (profiles, A/B checks)
        lines += [notes.read_text().strip(), ""]
    if hardware.ids:
        lines += [
            "## Hardware",
            "",
            *hardware.legend(),
            "",
            "Wall times and SPS depend on what else ran on the machine at the time (the 2-core machine",
            "of these sittings was shared): compare speeds within one throughput sitting, not across rows.",
            "",
        ]
    lines += [COMMANDS, "## Sources", ""]
    for source in PEERS:
        info = refs["sources"][source]
        lines.append(f"- **{info['name']}**: <{info['url']}>. Score: {info['definition']}.")
    lines += [
        "",
        "The quoted numbers live in `benchmarks/reference_scores.json`, one line per (source, algorithm, env).",
        "",
    ]
    text = "\n".join(lines)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--images-dir", default=None, help="default: images/ beside --out")
    opts = parser.parse_args(argv)
    out = Path(opts.out)
    images = Path(opts.images_dir) if opts.images_dir else out.parent / "images"
    render(Path(opts.results_dir), out, images)
    print(f"wrote {out} (images in {images})")


if __name__ == "__main__":
    main()
