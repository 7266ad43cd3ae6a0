"""Fingerprints of short fixed-seed runs: has a refactor changed what a script computes?

    python benchmarks/fingerprint.py --out before.json            # every script, ~5 min on 2 cores
    python benchmarks/fingerprint.py --out after.json --compare before.json

Each script trains its smoke-suite setting (benchmarks/suites.py SMOKE: 2048 env steps, off-policy
learning from step 1536) on CPU with one torch thread and float32, saves its model, and the
fingerprint is the SHA-256 of its curve.csv and of every network's weights in the checkpoint
(top-level entries that are module state dicts). Equal fingerprints mean the same curve and
bit-identical final weights.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.suites import SMOKE  # noqa: E402


def smoke_jobs() -> dict[str, list[str]]:
    """script name -> its command-line arguments in the smoke suite."""
    jobs = {}
    for entry in SMOKE:
        for script, steps in entry["budgets"].items():
            argv = ["--env-id", entry["env_id"], "--seed", "1", "--total-timesteps", str(steps)]
            for name, value in entry.get("overrides", {}).get(script, {}).items():
                argv += ["--" + name.replace("_", "-"), str(value)]
            jobs[script] = argv
    return jobs


def weights_digest(checkpoint: str) -> str:
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    state.update(state.pop("loop", None) or {})  # the run's loop values, where scripts once kept them
    digest = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        if isinstance(value, dict) and value and all(isinstance(v, torch.Tensor) for v in value.values()):
            for name in sorted(value):
                digest.update(f"{key}.{name}".encode())
                digest.update(value[name].contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def fingerprint(script: str, argv: list[str], python: str) -> dict:
    path = ROOT / "algos" / f"{script}.py"
    source = path.read_text()
    flags = ["--torch-threads", "1", "--save-model"]
    if "bf16: bool" in source:
        flags.append("--no-bf16")
    with tempfile.TemporaryDirectory() as runs:
        proc = subprocess.run(
            [python, str(path), *argv, *flags, "--runs-dir", runs],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "MUJOCO_GL": "egl"},
        )
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
        (run_dir,) = glob.glob(f"{runs}/*")
        curve = hashlib.sha256(Path(run_dir, "curve.csv").read_bytes()).hexdigest()[:16]
        return {"curve": curve, "weights": weights_digest(f"{run_dir}/checkpoints/latest.pt")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON file of the fingerprints")
    parser.add_argument("--compare", help="an earlier --out file: print which scripts changed")
    parser.add_argument("--scripts", help="comma-separated script names (default: all)")
    parser.add_argument("--python", default=sys.executable)
    opts = parser.parse_args()
    jobs = smoke_jobs()
    wanted = opts.scripts.split(",") if opts.scripts else list(jobs)
    results = {}
    for script in wanted:
        results[script] = fingerprint(script, jobs[script], opts.python)
        print(script, json.dumps(results[script]), flush=True)
    Path(opts.out).write_text(json.dumps(results, indent=1) + "\n")
    if not opts.compare:
        return 0
    before = json.loads(Path(opts.compare).read_text())
    changed = [s for s in results if before.get(s) != results[s]]
    for script in results:
        print(f"{script:16s} {'CHANGED' if script in changed else 'same'}")
    return 1 if changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
