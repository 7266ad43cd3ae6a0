"""The run around a script's training loop: its folder (TensorBoard events, ``args.json``,
``curve.csv``, ``checkpoints/``), the seeds, device and thread count, the last 100 episodic returns,
progress lines, the tuner's ``report`` hook, checkpoints at ``--checkpoint-every`` and at the end,
``--resume``, and a clean stop on SIGINT / SIGTERM. A script uses it in a few lines:

    run = Run(args, report, RESUME_MUST_MATCH)          # checks, seeds, device (run.device), folder
    global_step, obs = run.resume(envs, obs, agent=agent, optimizer=optimizer)  # what makes the state
    ...                                                 # the loop: run.log_episodes(...), run.log(...)
        if run.progress(global_step, "entropy 0.61", obs):   # saves at the cadence; True: stop now
            break
    return run.finish(global_step, obs)                 # saves (--save-model, or stopped), summary

None of this is part of an algorithm: the scripts in ``algos/`` keep all of theirs in one file.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from common.checkpoints import (
    buffer_not_saved,
    check_resume_args,
    first_non_finite,
    keeps_buffer,
    load_checkpoint,
    load_state,
    rng_states,
    set_rng_states,
    state_of,
    write_atomic,
)
from common.device import pick_device, seed_everything, threads_for
from common.envs import check_env_id, env_state, set_env_state
from common.errors import Stopped, fail, one_line


def _script_name(args: Any) -> str:
    """``ppo`` for Args defined in algos/ppo.py, run as a script or imported."""
    module = sys.modules.get(type(args).__module__)
    return Path(getattr(module, "__file__", "") or type(args).__module__).stem


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Run:
    """One training run. ``Run(args, report, must_match)`` checks the env id, reads ``args.resume``'s
    checkpoint (its Args named in ``must_match`` must equal these), seeds python, numpy and torch,
    picks ``run.device`` and makes ``runs/{env}__{exp_name}__{seed}__{time}/`` (or reuses the
    resumed run's folder). ``report(global_step, mean_return) -> stop?`` is the tuner's hook.
    """

    def __init__(self, args: Any, report: Callable[[int, float], bool | None] | None = None, must_match=()):
        check_env_id(args.env_id)
        self.args, self.report = args, report
        self.checkpoint = load_checkpoint(args.resume) if getattr(args, "resume", None) else None
        if self.checkpoint is not None:
            check_resume_args(args, self.checkpoint, must_match)
        torch.set_num_threads(threads_for(args.torch_threads))  # auto: one until resume() sees the networks
        seed_everything(args.seed, args.torch_deterministic)
        self.device = pick_device(args.cuda)
        self._open_folder()
        self.returns: deque[float] = deque(maxlen=100)
        self.episodes, self._new_episodes = 0, False
        self.start_time, self.start_step, self._last_step = time.time(), 0, 0
        self.last_checkpoint: Path | None = None
        if self.checkpoint is not None:
            self.last_checkpoint = Path(args.resume)
            self.start_step = self._last_step = int(self.checkpoint["global_step"])
            self.returns.extend(self.checkpoint.get("run", {}).get("returns", []))
            self.episodes = self.checkpoint.get("run", {}).get("episodes", 0)
        # wall time of the pieces before this one (a run resumed after a stop): summary.json's wall_s is the whole
        self.earlier_wall = self.checkpoint.get("wall_s", 0.0) if self.checkpoint else 0.0
        self.envs, self.objects, self.loop = None, {}, {}
        self.mid_episode = False  # resume() put the envs back mid-episode: loop values of the episodes hold
        self.stop_signal: str | None = None
        self._last_print = 0.0
        self._old_handlers = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread (e.g. inside a tuner worker thread)
                pass

    def _open_folder(self) -> None:
        """The run folder with ``args.json``, TensorBoard's writer and ``curve.csv``; a resumed run
        continues in its checkpoint's folder, without what a crashed run logged after the checkpoint."""
        from torch.utils.tensorboard import SummaryWriter

        args, resume_step = self.args, None
        name = f"{args.env_id.replace('/', '_')}__{args.exp_name}__{args.seed}__{int(time.time())}"
        self.dir = Path(getattr(args, "runs_dir", "runs")) / name
        if self.checkpoint is not None:
            resume_step = int(self.checkpoint["global_step"])
            ckpt_dir = Path(args.resume).parent
            if ckpt_dir.name == "checkpoints" and (ckpt_dir.parent / "curve.csv").exists():
                self.dir = ckpt_dir.parent
                self._truncate_curve(resume_step)
        (self.dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        arg_dict = dataclasses.asdict(args)
        (self.dir / "args.json").write_text(json.dumps(arg_dict, indent=2, default=str))
        # purge_step: TensorBoard hides what a crashed run logged after the checkpoint's step.
        self.writer = SummaryWriter(
            str(self.dir), purge_step=None if resume_step is None else resume_step + 1
        )
        table = "\n".join(f"|{k}|{v}|" for k, v in arg_dict.items())
        self.writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")
        self._curve_file = open(self.dir / "curve.csv", "a", newline="")  # noqa: SIM115
        self._curve = csv.writer(self._curve_file)
        if self._curve_file.tell() == 0:
            self._curve.writerow(["global_step", "mean_return", "episodes"])

    def resume(self, envs, obs: Any, **objects: Any) -> tuple[int, Any]:
        """Hand the run the envs and the objects that make the training state (networks, optimizers,
        ``np.random.Generator``s, tensors, a replay ``buffer``: an object or a tuple, saved as
        ``--checkpoint-buffer`` says); sets the thread count for the networks the optimizers train.
        Returns ``(global_step, obs)``: ``(0, obs)`` for a new run; when resuming, the checkpoint's
        step, with every object loaded, and its observation where the envs came back mid-episode
        (classic control; then ``run.mid_episode`` is True), else the first observation of new episodes.
        ``run.loop`` holds the loop values saved by ``progress`` / ``finish`` (empty for a new run)."""
        self.envs, self.objects = envs, objects
        optimizers = [x for x in objects.values() if isinstance(x, torch.optim.Optimizer)]
        torch.set_num_threads(threads_for(self.args.torch_threads, *optimizers))
        buffers = objects.get("buffer", ())
        buffers = buffers if isinstance(buffers, tuple) else (buffers,)
        self._keep_buffer = keeps_buffer(getattr(self.args, "checkpoint_buffer", "auto"), *buffers)
        checkpoint, self.checkpoint = self.checkpoint, None
        if checkpoint is None:
            return 0, obs
        global_step = int(checkpoint["global_step"])
        for name, obj in objects.items():
            if checkpoint.get(name) is not None:
                try:
                    load_state(obj, checkpoint[name])
                except (ValueError, RuntimeError, KeyError, TypeError) as err:  # another version's shapes
                    self.fail(
                        f"checkpoint '{self.args.resume}': its {name} does not fit this script's "
                        f"({type(err).__name__}: {one_line(str(err))})",
                        code=2,  # bad input, as a checkpoint trained with other flags
                    )
            elif name == "buffer":  # updates wait until the current policy has refilled learning_starts
                buffer_not_saved(global_step, self.args.learning_starts, self.args.num_envs)
        set_rng_states(checkpoint["rng"])
        self.loop = checkpoint.get("loop", {})
        self.mid_episode = set_env_state(envs, checkpoint.get("envs"))
        if self.mid_episode:
            return global_step, checkpoint["obs"]
        return global_step, envs.reset(seed=self.args.seed + global_step)[0]

    def save(self, global_step: int, obs: Any = None, name: str = "latest", **loop: Any) -> Path:
        """Write ``checkpoints/{name}.pt`` atomically with the objects given to ``resume``, the envs'
        state, ``obs`` and the ``loop`` values. Refuses, with one line and exit 1, to write a state with
        a non-finite floating tensor: NaN weights never replace a good checkpoint."""
        state = {
            name: None if name == "buffer" and not self._keep_buffer else state_of(x)
            for name, x in self.objects.items()
        }
        bad = first_non_finite(state)
        if bad is not None:
            self.fail(
                f"non-finite values in {bad} at step {global_step}; {name}.pt not written; {self._checkpoint_note()}"
            )
        state.update(
            script=_script_name(self.args),
            args=vars(self.args),
            global_step=global_step,
            rng=rng_states(),
            envs=env_state(self.envs) if self.envs is not None else None,
            obs=obs,
            loop=loop,
            run={"returns": list(self.returns), "episodes": self.episodes},
            wall_s=self.wall(),
        )
        path = self.dir / "checkpoints" / f"{name}.pt"
        write_atomic(state, path)
        self.last_checkpoint = path
        return path

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

    def wall(self) -> float:
        """Seconds of training so far, the pieces before a ``--resume`` included."""
        return self.earlier_wall + time.time() - self.start_time

    def sps(self, global_step: int) -> int:
        return int((global_step - self.start_step) / max(time.time() - self.start_time, 1e-9))

    def maybe_save(self, global_step: int, obs: Any = None, **loop: Any) -> None:
        """Write a checkpoint when ``global_step`` has passed a multiple of ``--checkpoint-every`` since the
        last call. ``progress`` calls it; a script that calls ``progress`` less often (every 1000 env steps)
        calls it every step too, so that checkpoints fall where ``--checkpoint-every`` says."""
        every, last = getattr(self.args, "checkpoint_every", 0), self._last_step
        self._last_step = global_step
        if every and global_step // every != last // every:
            self.save(global_step, obs, **loop)

    def progress(self, global_step: int, extra: str = "", obs: Any = None, **loop: Any) -> bool:
        """Once per iteration: log SPS, print a line every 2 s, write the curve, ask ``report``, and
        write a checkpoint when ``global_step`` passes a multiple of ``--checkpoint-every`` (with
        ``obs`` and the ``loop`` values, as ``save``). True means stop now (done, reported, or a signal)."""
        self.maybe_save(global_step, obs, **loop)
        sps = self.sps(global_step)
        self.writer.add_scalar("charts/SPS", sps, global_step)
        if time.time() - self._last_print >= 2.0:
            self._last_print = time.time()
            self._print_progress(global_step, sps, extra)
        if not self._new_episodes:
            return self.stop_signal is not None
        self._new_episodes = False
        self._curve.writerow([global_step, self.mean_return, self.episodes])
        self._curve_file.flush()
        if self.report is not None and self.report(global_step, self.mean_return):
            return True
        return self.stop_signal is not None

    def _print_progress(self, global_step: int, sps: int, extra: str) -> None:
        budget = max(int(getattr(self.args, "total_timesteps", 0)), 1)
        left = _duration((budget - global_step) / sps) if sps > 0 and global_step < budget else "0s"
        print(
            f"step {global_step:>9,d} {min(global_step / budget, 1.0):4.0%}  return {self.mean_return:9.2f}"
            f"  episodes {self.episodes:>6d}  sps {sps:>6d}  left {left:>6s}  {extra}",
            flush=True,
        )

    def _truncate_curve(self, step: int) -> None:
        """Drop the curve rows a crashed run wrote after the checkpoint it is resumed from."""
        path = self.dir / "curve.csv"
        rows = list(csv.reader(path.open(newline="")))
        kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) <= step]
        with path.open("w", newline="") as f:
            csv.writer(f).writerows(kept)

    def _checkpoint_note(self) -> str:
        if self.last_checkpoint is None:
            return "no checkpoint was written (--checkpoint-every N writes them during training)"
        return f"last good checkpoint: {self.last_checkpoint}"

    def check_finite(self, global_step: int, losses: dict[str, float], *modules: torch.nn.Module) -> None:
        """Stop with one line and exit 1 if a loss, or a weight or buffer of ``modules`` after the update,
        is not finite (or so large that its square overflows); the last checkpoint is left as it is."""
        for name, value in losses.items():
            if not np.isfinite(value):
                self.fail(f"non-finite {name} ({value}) at step {global_step}; {self._checkpoint_note()}")
        for module in modules:  # weights and buffers (e.g. normalisation statistics)
            for name, param in module.state_dict().items():
                # the squares' sum also catches weights so large (> ~1e19) that the next forward overflows
                if param.is_floating_point() and not torch.isfinite(param.float().square().sum()):
                    self.fail(
                        f"non-finite weights in {type(module).__name__}.{name} after the update at step "
                        f"{global_step} (losses were finite); {self._checkpoint_note()}"
                    )

    def fail(self, message: str, code: int = 1) -> NoReturn:
        """Flush TensorBoard and the curve, then end with one line ``error: message`` (exit 1)."""
        self._close()
        fail(message, code)

    def _close(self) -> None:
        self.writer.flush()
        self.writer.close()
        if not self._curve_file.closed:
            self._curve_file.close()
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        if self.envs is not None:
            self.envs.close()

    def finish(self, global_step: int, obs: Any = None, **loop: Any) -> dict:
        """End the run: write the checkpoint with ``--save-model`` or after a stop signal (``--resume``
        continues it), close the envs, write ``summary.json`` and print the closing line; return the
        summary, or raise ``Stopped`` (exit 1) when a signal ended training."""
        if getattr(self.args, "save_model", False) or self.stop_signal is not None:
            self.save(global_step, obs, **loop)
        self._close()
        wall = self.wall()
        summary = {
            "final_return": self.mean_return,
            "global_step": global_step,
            "sps": self.sps(global_step),
            "wall_s": round(wall, 2),
            "run_dir": str(self.dir),
            "torch_threads": torch.get_num_threads(),
        }
        # JSON has no NaN (the mean return of a run without a finished episode): null instead.
        written = {
            k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in summary.items()
        }
        (self.dir / "summary.json").write_text(json.dumps({**written, "stopped": self.stop_signal}) + "\n")
        print(
            f"done: return {self.mean_return:.2f} (last {len(self.returns)} episodes), {global_step:,d} steps"
            f" in {_duration(wall)} ({summary['sps']:,d} sps); run folder {self.dir}; "
            f"tensorboard --logdir {self.dir.parent}",
            flush=True,
        )
        if self.stop_signal is not None:
            where = f"checkpoint: {self.last_checkpoint}" if self.last_checkpoint else "no checkpoint written"
            message = f"stopped by {self.stop_signal} at step {global_step}; {where}"
            print(message, file=sys.stderr, flush=True)
            raise Stopped(message, self.stop_signal, summary)
        return summary
