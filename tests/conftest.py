import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")


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
    """The one run folder ``root/{prefix}__*``, checked to hold TensorBoard events, args.json, curve.csv."""
    import glob

    (run_dir,) = glob.glob(f"{root}/{prefix}__*")
    for name in ("events.out.tfevents.*", "args.json", "curve.csv"):
        assert glob.glob(f"{run_dir}/{name}"), f"{run_dir} has no {name}"
    return run_dir


def assert_one_line_error(stderr: str, expected: str) -> None:
    """Bad input ends in exactly one line ``error: ...`` that contains ``expected``."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], stderr
