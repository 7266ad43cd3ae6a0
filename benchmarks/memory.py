"""Does a script's memory stay flat once its replay buffer is full? Runs the script in a child
process, samples its resident memory (VmRSS, Linux) twice a second, and prints the RSS at the moment
the buffer fills at tenths of the run, with the growth over its last three quarters.

    python benchmarks/memory.py                                  # sac_continuous.py, Pendulum-v1
    python benchmarks/memory.py --script algos/dqn.py -- --env-id CartPole-v1 --total-timesteps 60000

The buffer is kept small (``--buffer-size``, default 5,000) so that it fills early: the numpy arrays
are preallocated but their pages are only touched as they are written, so the RSS grows until the
buffer is full; after that a leak (a list that keeps growing, tensors kept alive by a graph) is the
only thing that can add memory. Keep the buffer no larger than the script's ``learning_starts``:
the steps before learning are fast, so the buffer is full long before a quarter of the wall time,
where the growth is measured from. Writes no result file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.record import ROOT  # noqa: E402


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", default="algos/sac_continuous.py")
    parser.add_argument("--env-id", default="Pendulum-v1")
    parser.add_argument("--total-timesteps", type=int, default=30_000)
    parser.add_argument("--buffer-size", type=int, default=5_000)
    parser.add_argument("script_args", nargs="*", help="after --: more of the script's Args")
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fdrl-memory-") as runs_dir:  # the run folder is not kept
        cmd = [
            sys.executable,
            os.path.join(ROOT, opts.script),
            "--env-id",
            opts.env_id,
            "--total-timesteps",
            str(opts.total_timesteps),
            "--buffer-size",
            str(opts.buffer_size),
            "--runs-dir",
            runs_dir,
            *opts.script_args,
        ]
        start = time.monotonic()
        child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
        samples = []  # (seconds since start, RSS MiB)
        while child.poll() is None:
            rss = rss_mib(child.pid)
            if rss is not None:
                samples.append((time.monotonic() - start, rss))
            time.sleep(0.5)
    if child.returncode != 0 or not samples:
        sys.exit(f"error: {' '.join(cmd)} exited with {child.returncode}")

    total = samples[-1][0]

    def rss_at(fraction: float) -> float:
        return next(rss for t, rss in samples if t >= fraction * total)

    # Steps before learning starts are fast: by a quarter of the wall time the buffer is long full.
    quarter, end, peak = rss_at(0.25), samples[-1][1], max(rss for _, rss in samples)
    print(
        f"{opts.script} {opts.env_id}: {opts.total_timesteps:,} steps, buffer {opts.buffer_size:,}, {total:.0f} s"
    )
    print("RSS MiB at 10%..100% of the run: " + " ".join(f"{rss_at(f / 10):.0f}" for f in range(1, 11)))
    print(f"growth from 25% of the run to the end: {end - quarter:+.1f} MiB (peak {peak:.1f} MiB)")


if __name__ == "__main__":
    main()
