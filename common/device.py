"""Where the maths runs, and how repeatably: the device, the seeds, and torch's CPU thread count
(the auto rule of ``--torch-threads``).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from common.errors import fail


def seed_everything(seed: int, torch_deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = torch_deterministic
    # CPU kernels are deterministic for a fixed thread count; the switch matters on GPUs, and setting it
    # imports torch's compiler stack (~2 s per process on a small CPU), so only where CUDA exists.
    if torch_deterministic and torch.cuda.is_available():
        torch.use_deterministic_algorithms(True, warn_only=True)


def pick_device(cuda: bool) -> torch.device:
    return torch.device("cuda" if cuda and torch.cuda.is_available() else "cpu")


# Networks with at least this many parameters in all train faster on two threads than on one on a
# 2-core CPU (quiet machine, 2026-12-04: dqn's 67.6k 1.09x, sac_continuous 1.31x, ppo_atari 1.46x); smaller
# ones within 5% on one (ppo's 9k: 1.02x) (benchmarks/notes.md, "Threads"). Two, not every
# core: the thread count changes float rounding, and a fixed count gives the same command the same
# curve on any machine with two cores or more.
MANY_THREADS_FROM = 50_000
MANY_THREADS = 2


def physical_cores() -> int:
    """The CPU cores this process may run on, each hyper-threaded pair counted once (Linux's
    /sys topology; where that is missing, every logical CPU counts)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        try:
            cores.add(Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/core_cpus_list").read_text())
        except OSError:
            cores.add(str(cpu))
    return max(len(cores), 1)


def threads_for(requested: int, *trained: torch.nn.Module | torch.optim.Optimizer) -> int:
    """torch's CPU thread count for ``--torch-threads``: ``requested`` when positive; 0 (auto) gives
    one thread when the ``trained`` networks (or the parameters of these optimizers) have fewer than
    MANY_THREADS_FROM parameters in all (and when none exist yet: networks are built on one thread),
    else MANY_THREADS, at most the physical cores and $OMP_NUM_THREADS where that is set (runs side by
    side on one machine: more threads than free cores make each run several times slower). A
    negative count ends the run with one line (exit 2)."""
    if requested < 0:
        fail(f"--torch-threads {requested}: expected 0 (auto) or a positive count")
    if requested > 0:
        return requested
    params = [
        p
        for x in trained
        for p in (
            x.parameters()
            if isinstance(x, torch.nn.Module)
            else (p for g in x.param_groups for p in g["params"])
        )
    ]
    size = sum(p.numel() for p in params)
    cap = os.environ.get("OMP_NUM_THREADS", "")
    cores = min(physical_cores(), int(cap)) if cap.isdigit() and int(cap) > 0 else physical_cores()
    return min(MANY_THREADS, cores) if size >= MANY_THREADS_FROM else 1
