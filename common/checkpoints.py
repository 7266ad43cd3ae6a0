"""Checkpoints: written atomically (never with a NaN), read with one line on failure, and the state
of a run's objects in and out of them: networks, optimizers (their learning rates stay those of
the Args), random generators, tensors such as SAC's log alpha, replay buffers.
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.errors import fail


def rng_states() -> dict:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def load_checkpoint(path: str, mmap: bool = False) -> dict:
    """The checkpoint at ``path``, or one line ``error: cannot read checkpoint ...`` and exit 2.

    ``mmap=True`` maps tensors lazily (a cheap look at ``script`` and ``args`` of a big file)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=mmap)
    except Exception as err:  # truncated zip, not a torch file, missing file, unpickling errors...
        fail(
            f"cannot read checkpoint '{path}': {str(err).splitlines()[0] if str(err) else type(err).__name__}"
        )
    if not isinstance(state, dict):
        fail(f"cannot read checkpoint '{path}': not an fdrl checkpoint")
    return state


def load_optimizer(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load an optimizer's saved state (moments, step counts) but keep the learning rates it was built
    with: a resumed run uses the rates of its Args (the checkpoint's unless a flag changed them)."""
    lrs = [group["lr"] for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr


def args_from_checkpoint(args_class, state: dict):
    """The ``Args`` a checkpoint was trained with (fields unknown to ``args_class`` are dropped)."""
    names = {f.name for f in dataclasses.fields(args_class)}
    return args_class(**{k: v for k, v in state["args"].items() if k in names})


def check_resume_args(args: Any, checkpoint: dict, names: tuple[str, ...]) -> None:
    """One line and exit 2 when an argument that shapes the saved state differs from the checkpoint's."""

    def norm(value):
        return tuple(value) if isinstance(value, list) else value

    for name in names:
        saved, now = norm(checkpoint["args"].get(name)), norm(getattr(args, name))
        if saved != now:
            flag = "--" + name.replace("_", "-")
            fail(f"--resume: the checkpoint was trained with {flag} {saved}, not {now}")


# --checkpoint-buffer auto puts a replay buffer into checkpoints when its preallocated arrays take at
# most this much: classic control, Box2D and MuJoCo up to Ant-v5 (1.6 GiB) at 1M transitions; not
# Humanoid-v5 (5.3 GiB) nor Atari's 1M frames (6.6 GiB).
AUTO_BUFFER_LIMIT = 2 * 2**30


def keeps_buffer(mode: str | bool, *buffers: Any) -> bool:
    """Whether checkpoints hold the replay buffer: ``--checkpoint-buffer on|off``, or ``auto``: when
    the numpy arrays of ``buffers`` (a replay buffer, a priority tree) take at most AUTO_BUFFER_LIMIT
    bytes. (True / False: the field's values in checkpoints written before ``auto`` existed.)"""
    if mode in ("on", "off", True, False):
        return mode in ("on", True)
    arrays = [a for b in buffers if b is not None for a in vars(b).values() if isinstance(a, np.ndarray)]
    return sum(a.nbytes for a in arrays) <= AUTO_BUFFER_LIMIT


def buffer_not_saved(global_step: int, refill: int, num_envs: int) -> None:
    """The one line a run resumed from a checkpoint without a replay buffer prints: the buffer starts
    empty, the current policy refills it, and updates resume once it holds ``refill`` transitions."""
    resume_at = global_step + -(-refill // num_envs) * num_envs
    print(
        f"resume: the checkpoint holds no replay buffer (see --checkpoint-buffer): the current policy refills "
        f"it; updates resume at step {resume_at:,}, once it holds --learning-starts {refill:,} transitions",
        flush=True,
    )


def first_non_finite(obj: Any, where: str = "") -> str | None:
    """Key path of the first floating tensor with a NaN or inf inside nested dicts/lists, else None."""
    if isinstance(obj, torch.Tensor):
        return where or "tensor" if obj.is_floating_point() and not torch.isfinite(obj).all() else None
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list | tuple) else ()
    for key, value in items:
        found = first_non_finite(value, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def state_of(obj: Any) -> Any:
    """What a checkpoint keeps of ``obj``: a generator's state, a tensor's values, a list for a tuple
    of objects, else ``obj.state_dict()`` (networks, optimizers, replay buffers, running statistics)."""
    if isinstance(obj, np.random.Generator):
        return obj.bit_generator.state
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, tuple | list):
        return [state_of(item) for item in obj]
    return obj.state_dict()


def load_state(obj: Any, state: Any) -> None:
    """Put ``state`` (from ``state_of``) back into ``obj``."""
    if isinstance(obj, np.random.Generator):
        obj.bit_generator.state = state
    elif isinstance(obj, torch.Tensor):
        with torch.no_grad():
            obj.copy_(state)
    elif isinstance(obj, torch.optim.Optimizer):
        load_optimizer(obj, state)
    elif isinstance(obj, tuple | list):
        for item, item_state in zip(obj, state, strict=True):
            load_state(item, item_state)
    else:
        obj.load_state_dict(state)


def write_atomic(state: dict, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a kill mid-write leaves the old file intact."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        os.fsync(dir_fd)
        os.close(dir_fd)
    except OSError:
        pass
