"""Where a script's training time goes: steps per second split into env, action-inference and update
time per env step, beside the env-only throughput measured in the same sitting.

    python benchmarks/speed_split.py                      # ppo_continuous.py, Hopper-v5, 20k steps, 3 reps
    python benchmarks/speed_split.py --script algos/a2c_continuous.py --total-timesteps 50000
    python benchmarks/speed_split.py -- --num-envs 4 --num-steps 512      # after --: the script's Args

Each repetition runs env-only (random actions through the script's own vector env, as the throughput
suite's ``--measure env-only``) and then training, each in a fresh interpreter, one after the other
so that drift on a shared machine hits both. The scripts carry no timers: the worker wraps, from the
outside, the innermost vector env's ``step`` (env), ``Tensor.backward`` (backward) and every torch
optimizer's ``step`` (optimizer); "other" is the rest of the run's wall time: acting, forward passes
and losses, sampling, buffers, logging. Prints one row per repetition and the medians; writes no
result file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.record import ROOT  # noqa: E402


def worker(opts, script_argv: list[str]) -> None:
    """One measurement in this process; prints one JSON line."""
    import tyro

    from benchmarks.run_job import measure_env_only
    from common.scripts import load_script

    module = load_script(opts.script)
    args = tyro.cli(module.Args, args=script_argv)
    if opts.worker == "env-only":
        summary = measure_env_only(module, args)
        print(json.dumps({"sps": summary["sps"], "steps": summary["global_step"]}))
        return
    split = time_calls()
    with tempfile.TemporaryDirectory() as tmp:
        if hasattr(args, "runs_dir"):
            args.runs_dir = tmp
        summary = module.train(args)
    steps, wall = summary["global_step"], summary["wall_s"]
    print(json.dumps({"sps": steps / wall, "steps": steps, "wall_s": wall, **split}))


def time_calls() -> dict[str, float]:
    """Wrap the calls whose time the split reports; returns the dict the wrappers add seconds to."""
    import gymnasium as gym
    import torch

    split = {"env": 0.0, "backward": 0.0, "optimizer": 0.0}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                split[name] += time.perf_counter() - start

        return wrapper

    envs = [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv]
    try:
        from ale_py.vector_env import AtariVectorEnv

        envs.append(AtariVectorEnv)
    except ImportError:
        pass
    for cls in envs:
        cls.step = timed("env", cls.step)
    torch.Tensor.backward = timed("backward", torch.Tensor.backward)
    for cls in (torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop, torch.optim.SGD):
        cls.step = timed("optimizer", cls.step)
    return split


def measure(opts, kind: str, script_argv: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--script", opts.script, "--", *script_argv]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        print(f"error: {kind} run failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        raise SystemExit(1)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    ours, extra = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", default="algos/ppo_continuous.py")
    parser.add_argument("--env-id", default="Hopper-v5")
    parser.add_argument("--total-timesteps", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--worker", choices=["train", "env-only"], default=None, help=argparse.SUPPRESS)
    opts = parser.parse_args(ours)
    if opts.worker:
        worker(opts, extra)
        return
    script_argv = ["--env-id", opts.env_id, "--total-timesteps", str(opts.total_timesteps), *extra]
    print(
        f"{opts.script} on {opts.env_id}, {opts.total_timesteps:,} steps asked, {opts.reps} reps "
        f"{' '.join(extra)}\n"
        f"{'rep':>6} {'env-only sps':>12} {'train sps':>10} {'train/env':>9} | us per env step: "
        f"{'env':>6} {'backward':>8} {'optim':>6} {'other':>6}",
        flush=True,
    )
    rows = []
    for rep in range(1, opts.reps + 1):
        env_only = measure(opts, "env-only", script_argv)
        train = measure(opts, "train", script_argv)
        us = {k: train[k] / train["steps"] * 1e6 for k in ("env", "backward", "optimizer")}
        row = {
            "env_only_sps": env_only["sps"],
            "train_sps": train["sps"],
            "ratio": train["sps"] / env_only["sps"],
            **us,
            "other": 1e6 / train["sps"] - sum(us.values()),
        }
        rows.append(row)
        print_row(str(rep), row)
    if len(rows) > 1:
        print_row("median", {k: statistics.median(r[k] for r in rows) for k in rows[0]})


def print_row(label: str, row: dict) -> None:
    print(
        f"{label:>6} {row['env_only_sps']:>12.0f} {row['train_sps']:>10.0f} {row['ratio']:>9.2f} | "
        f"{'':>16}{row['env']:>6.0f} {row['backward']:>8.0f} {row['optimizer']:>6.0f} {row['other']:>6.0f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
