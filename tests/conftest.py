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
