"""One benchmark job: train one script once and append one JSON line to ``<results>/<suite>.jsonl``.

    python benchmarks/run_job.py --suite classic --script algos/ppo.py -- \\
        --env-id CartPole-v1 --seed 1 --total-timesteps 200000

Everything after ``--`` goes to the script's own ``Args`` exactly as on its command line. The job
imports the script, calls ``train(args)`` and appends the summary with the machine, the commit and
the learning curve (from the run folder's curve.csv, at most 200 points) to the results file.
The command is self-contained: run it by hand, from GNU parallel or from a Slurm array.

``--eval-episodes K`` then plays the final policy greedily for K episodes (``evaluate.py``) and records
their mean as ``eval_return``: the protocol of RL Zoo's published scores, beside the training one.

``--measure env-only`` instead steps the script's vector env (same env factory, number of envs and
autoreset mode) with random actions for ``--total-timesteps`` steps: the throughput suite's
physical limit.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.record import append_record, common_fields, thin_curve  # noqa: E402
from common.errors import RunEnded, fail  # noqa: E402
from common.scripts import load_script, to_argv  # noqa: E402


def read_curve(run_dir: str | None) -> list[list[float]]:
    """(global_step, mean_return) pairs of curve.csv, thinned to at most CURVE_POINTS (last kept)."""
    if not run_dir or not (Path(run_dir) / "curve.csv").exists():
        return []
    with open(Path(run_dir) / "curve.csv", newline="") as f:
        rows = [(int(float(r["global_step"])), float(r["mean_return"])) for r in csv.DictReader(f)]
    return thin_curve(rows)


def _jsonable(value) -> bool:
    try:
        json.dumps(value, allow_nan=False)
        return True
    except (TypeError, ValueError):
        return False


def device_of(args) -> tuple[str, str | None]:
    import torch

    if getattr(args, "cuda", False) and torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return f"cuda ({name})", name
    return "cpu", None


def make_vector_env(module, args, video_dir: str):
    """The script's vector env as it trains: its ``make_envs(args, video_dir)`` (common/envs.py or
    common/atari.py), without a script's own normalisation wrappers."""
    return module.make_envs(args, video_dir), "script's make_envs"


def measure_env_only(module, args) -> dict:
    """Random actions through the script's vector env: steps per second with no learning at all."""
    import numpy as np

    from common.envs import check_env_id

    check_env_id(args.env_id)  # registers ALE's ids, as the scripts' train() does
    with tempfile.TemporaryDirectory() as tmp:
        envs, how = make_vector_env(module, args, tmp)
        envs.action_space.seed(args.seed)
        envs.reset(seed=args.seed)
        num_envs = envs.num_envs
        iterations = max(args.total_timesteps // num_envs, 1)
        start = time.perf_counter()
        for _ in range(iterations):
            envs.step(envs.action_space.sample())
        wall = time.perf_counter() - start
        envs.close()
    steps = iterations * num_envs
    return {
        "final_return": None,
        "global_step": steps,
        "sps": int(steps / wall),
        "wall_s": round(wall, 2),
        "run_dir": None,
        "num_envs": num_envs,
        "env_factory": how,
        "numpy": np.__version__,
    }


def finished_run(run_dir: str, args_class) -> tuple[dict, list[str]]:
    """The summary of a finished run folder and the script arguments that give its resolved Args."""
    folder = Path(run_dir)
    try:
        summary = json.loads((folder / "summary.json").read_text())
        saved = json.loads((folder / "args.json").read_text())
    except (OSError, ValueError) as err:
        fail(f"{run_dir} is not a finished run folder ({err})")
    if summary.get("stopped"):
        fail(f"{run_dir} was stopped by {summary['stopped']}: not a finished run")
    names = {f.name for f in dataclasses.fields(args_class)}
    return summary, to_argv({k: v for k, v in saved.items() if v is not None}, names)


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if "--" in argv:
        split = argv.index("--")
        ours, script_argv = argv[:split], argv[split + 1 :]
    else:
        ours, script_argv = argv, []
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", required=True, help="results go to <results-dir>/<suite>.jsonl")
    parser.add_argument("--script", required=True, help="path of the script, e.g. algos/ppo.py")
    parser.add_argument("--results-dir", default=None, help="folder of the result files (benchmarks/results)")
    parser.add_argument("--measure", choices=["train", "env-only"], default="train")
    parser.add_argument("--rep", type=int, default=None, help="repetition index (throughput suite)")
    parser.add_argument(
        "--from-run",
        metavar="RUN_DIR",
        help="record a run that already finished (its args.json and summary.json) instead of training",
    )
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=0,
        help="after training, play the final policy greedily for this many episodes (evaluate.py's) and "
        "record their mean as eval_return (RL Zoo's published scores are such evaluations)",
    )
    opts = parser.parse_args(ours)
    if opts.eval_episodes < 0:
        fail(f"--eval-episodes must be 0 (no evaluation) or more, not {opts.eval_episodes}")

    import tyro

    module = load_script(opts.script)
    if opts.from_run:
        summary, script_argv = finished_run(opts.from_run, module.Args)
    args = tyro.cli(module.Args, args=script_argv, prog=f"{opts.script} (via run_job.py)")
    if opts.eval_episodes > 0:
        args.save_model = True  # the final checkpoint, which the evaluation plays
    if not opts.from_run:
        try:
            summary = module.train(args) if opts.measure == "train" else measure_env_only(module, args)
        except RunEnded as err:  # bad input (exit 2), training failed or stopped (exit 1): no result line
            print(f"no result: {type(err).__name__}: {err.message}", flush=True)
            raise
    import torch

    device, gpu = device_of(args)
    script = Path(opts.script)
    record = {
        "suite": opts.suite,
        "script": f"algos/{script.name}",
        "measure": opts.measure,
        "rep": opts.rep,
        "env_id": args.env_id,
        "seed": getattr(args, "seed", None),
        "total_timesteps": getattr(args, "total_timesteps", None),
        "global_step": summary.get("global_step"),
        "final_return": summary.get("final_return"),
        "wall_s": summary.get("wall_s"),
        "sps": summary.get("sps"),
        # the count the run used (--torch-threads 0 is resolved by the script); env-only: the argument
        "torch_threads": summary.get("torch_threads", getattr(args, "torch_threads", None)),
        "device": device,
        "argv": script_argv,
        "args": {k: v for k, v in dataclasses.asdict(args).items() if _jsonable(v)},
        **common_fields(gpu, paths=(f"algos/{script.name}", "common")),
        "torch": torch.__version__,
        "run_dir": summary.get("run_dir"),
        "curve_path": str(Path(summary["run_dir"]) / "curve.csv") if summary.get("run_dir") else None,
        "curve": read_curve(summary.get("run_dir")),
    }
    for key in ("num_envs", "env_factory"):
        if key in summary:
            record[key] = summary[key]
    if opts.eval_episodes > 0 and summary.get("run_dir"):
        from common.evaluation import evaluate

        played = evaluate(str(Path(summary["run_dir"]) / "checkpoints" / "latest.pt"), opts.eval_episodes)
        record.update(eval_return=played["mean"], eval_returns=played["returns"])
    path = append_record(record, opts.suite, opts.results_dir)
    ret = record["final_return"]
    print(
        f"result {record['script']} {record['env_id']} seed {record['seed']}: "
        f"final_return {ret if ret is None else round(ret, 2)}, {record['sps']} sps, "
        f"{record['wall_s']} s -> {path}",
        flush=True,
    )
    return record


if __name__ == "__main__":
    main()
