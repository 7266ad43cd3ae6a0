"""Plumbing every script shares and none should copy: input checks that end in one line, the run
folder (TensorBoard, args.json, curve.csv), episode statistics, the tuner's ``report`` hook,
atomic checkpoints and clean stops on SIGINT / SIGTERM.

None of this is part of an algorithm: the scripts in ``algos/`` keep all of theirs in one file.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import json
import os
import random
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

# Optional packages and the env ids that need them: (module, pip extra).
_OPTIONAL = {"ALE/": ("ale_py", "atari")}
_ENTRY_POINT_NEEDS = {"mujoco": ("mujoco", "mujoco"), "box2d": ("Box2D", "box2d")}


def fail(message: str, code: int = 2) -> NoReturn:
    """End the run with one line on stderr (exit 2: bad input; exit 1: training failed)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def _require(module: str, extra: str, env_id: str) -> None:
    try:
        __import__(module)
    except ImportError:
        fail(f"{env_id} needs the optional package '{module}': pip install -e '.[{extra}]'")


def check_env_id(env_id: str):
    """The env's spec, or one line naming the problem and the closest registered ids."""
    import gymnasium as gym

    if env_id.startswith("ALE/"):
        _require("ale_py", "atari", env_id)
        import ale_py

        gym.register_envs(ale_py)
    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        fail(f"unknown env id '{env_id}'{hint}")
    entry = str(spec.entry_point)
    for key, (module, extra) in _ENTRY_POINT_NEEDS.items():
        if key in entry:
            _require(module, extra, env_id)
    return spec


def seed_everything(seed: int, torch_deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = torch_deterministic
    if torch_deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def pick_device(cuda: bool) -> torch.device:
    return torch.device("cuda" if cuda and torch.cuda.is_available() else "cpu")


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


def load_checkpoint(path: str) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError) as err:
        fail(f"cannot read checkpoint '{path}': {err}")


class Run:
    """One training run: ``runs/{env}__{exp_name}__{seed}__{time}/`` with TensorBoard events,
    ``args.json``, ``curve.csv`` and ``checkpoints/``; the mean of the last 100 episodic returns;
    the ``report(global_step, mean_return) -> stop?`` hook; SIGINT / SIGTERM turned into a flag
    that the training loop checks once per iteration (``run.stop_signal``).
    """

    def __init__(self, args: Any, report: Callable[[int, float], bool | None] | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.args = args
        self.report = report
        name = f"{args.env_id.replace('/', '_')}__{args.exp_name}__{args.seed}__{int(time.time())}"
        self.dir = Path(getattr(args, "runs_dir", "runs")) / name
        (self.dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        arg_dict = dataclasses.asdict(args)
        (self.dir / "args.json").write_text(json.dumps(arg_dict, indent=2, default=str))
        self.writer = SummaryWriter(str(self.dir))
        table = "\n".join(f"|{k}|{v}|" for k, v in arg_dict.items())
        self.writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")
        self._curve_file = open(self.dir / "curve.csv", "a", newline="")  # noqa: SIM115
        self._curve = csv.writer(self._curve_file)
        if self._curve_file.tell() == 0:
            self._curve.writerow(["global_step", "mean_return", "episodes"])
        self.returns: deque[float] = deque(maxlen=100)
        self.episodes = 0
        self._new_episodes = False
        self.start_time = time.time()
        self.start_step = 0
        self.stop_signal: str | None = None
        self._last_print = 0.0
        self._old_handlers = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread (e.g. inside a tuner worker thread)
                pass

    def _on_signal(self, signum, frame) -> None:
        if self.stop_signal is not None:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.stop_signal = signal.Signals(signum).name

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns)) if self.returns else float("nan")

    def log_episodes(self, global_step: int, info: dict) -> None:
        """Record the episodes that ``RecordEpisodeStatistics`` (vector wrapper) says ended."""
        if "episode" not in info:
            return
        done = info["_episode"]
        for r, length in zip(info["episode"]["r"][done], info["episode"]["l"][done]):
            self.returns.append(float(r))
            self.writer.add_scalar("charts/episodic_return", r, global_step)
            self.writer.add_scalar("charts/episodic_length", length, global_step)
        self.episodes += int(done.sum())
        self._new_episodes = True

    def log(self, global_step: int, scalars: dict[str, float]) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, global_step)

    def sps(self, global_step: int) -> int:
        return int((global_step - self.start_step) / max(time.time() - self.start_time, 1e-9))

    def progress(self, global_step: int, extra: str = "") -> bool:
        """Log SPS, print a line, write the curve and ask ``report``; True means stop now."""
        sps = self.sps(global_step)
        self.writer.add_scalar("charts/SPS", sps, global_step)
        if time.time() - self._last_print >= 2.0:
            self._last_print = time.time()
            print(
                f"step {global_step:>9,d}  return {self.mean_return:9.2f}  episodes {self.episodes:>6d}"
                f"  sps {sps:>6d}  {extra}",
                flush=True,
            )
        if not self._new_episodes:
            return self.stop_signal is not None
        self._new_episodes = False
        self._curve.writerow([global_step, self.mean_return, self.episodes])
        self._curve_file.flush()
        if self.report is not None and self.report(global_step, self.mean_return):
            return True
        return self.stop_signal is not None

    def save_checkpoint(self, state: dict, name: str = "latest") -> Path:
        """Write ``checkpoints/{name}.pt`` atomically: a kill mid-write leaves the old file intact."""
        path = self.dir / "checkpoints" / f"{name}.pt"
        tmp = path.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        return path

    def finish(self, global_step: int) -> dict:
        self.writer.flush()
        self.writer.close()
        self._curve_file.close()
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        wall = time.time() - self.start_time
        summary = {
            "final_return": self.mean_return,
            "global_step": global_step,
            "sps": self.sps(global_step),
            "wall_s": round(wall, 2),
            "run_dir": str(self.dir),
        }
        if self.stop_signal is not None:
            print(f"stopped by {self.stop_signal}; checkpoint in {self.dir / 'checkpoints'}", file=sys.stderr)
        return summary
