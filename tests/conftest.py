import os
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")
# pytest-xdist runs one worker per core: one torch thread each, as the README advises for runs side
# by side (with more threads than free cores a run slowed 2.6-20x here; --torch-threads 0 honours it).
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def runs_dir(tmp_path):
    """A run folder root inside pytest's tmp dir, so tests never write into ./runs."""
    return str(tmp_path / "runs")


def run_script(script: str, *args: str, timeout: float = 300):
    """Run ``python algos/<script> args...`` as a user would; returns the CompletedProcess."""
    import subprocess

    return subprocess.run(
        [sys.executable, str(ROOT / "algos" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def assert_run_folder(root, prefix: str) -> str:
    """The one run folder ``root/{prefix}__*``, checked to hold TensorBoard events, args.json, curve.csv
    and summary.json (written when the run ends)."""
    import glob

    (run_dir,) = glob.glob(f"{root}/{prefix}__*")
    for name in ("events.out.tfevents.*", "args.json", "curve.csv", "summary.json"):
        assert glob.glob(f"{run_dir}/{name}"), f"{run_dir} has no {name}"
    return run_dir


def suite_overrides(suite: str, env_id: str, script: str) -> dict:
    """The per-env Args a benchmark suite gives ``script`` on ``env_id`` (benchmarks/suites.py), so a
    slow test runs exactly the benchmark's setting."""
    from benchmarks.suites import SUITES

    (entry,) = [e for e in SUITES[suite]["entries"] if e["env_id"] == env_id]
    return {k: tuple(v) if isinstance(v, list) else v for k, v in entry["overrides"][script].items()}


def assert_one_line_error(stderr: str, expected: str) -> None:
    """Bad input ends in exactly one line ``error: ...`` that contains ``expected``."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], stderr


class CountingEnv(gym.Env):
    """obs = [steps taken since the reset], reward 1 per step; terminates after ``terminate_at`` steps
    if given, else only a TimeLimit ends it (truncation). Discrete(2) actions, or a Box(-1, 1) with
    ``continuous``; the action is ignored. The env of the terminated-vs-truncated tests."""

    observation_space = gym.spaces.Box(0.0, 1e6, (1,), np.float32)

    def __init__(self, terminate_at=None, continuous=False):
        self.terminate_at = terminate_at
        self.action_space = (
            gym.spaces.Box(-1.0, 1.0, (1,), np.float32) if continuous else gym.spaces.Discrete(2)
        )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([float(self.t)], np.float32), 1.0, self.t == self.terminate_at, False, {}
