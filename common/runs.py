"""Plumbing every script shares and none should copy: input checks that end in one line, the run
folder (TensorBoard, args.json, curve.csv), episode statistics, the tuner's ``report`` hook,
atomic checkpoints and clean stops on SIGINT / SIGTERM.

None of this is part of an algorithm: the scripts in ``algos/`` keep all of theirs in one file.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import difflib
import io
import json
import math
import os
import pickle
import random
import re
import signal
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

# Optional packages and the env ids that need them: (module, pip extra).
_OPTIONAL = {"ALE/": ("ale_py", "atari")}
_ENTRY_POINT_NEEDS = {"mujoco": ("mujoco", "mujoco"), "box2d": ("Box2D", "box2d")}


class RunEnded(SystemExit):
    """How a run ends without its summary. A ``SystemExit``: run from the command line, the script
    exits with ``code`` after its one line; the tuner and the benchmark runner catch the subclasses
    (``message`` says why, without the ``error:`` prefix)."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(self.exit_code)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(RunEnded):
    """Bad user input (unknown env, wrong action space, bad argument, unreadable checkpoint): exit 2."""

    exit_code = 2


class TrainingFailed(RunEnded):
    """Training failed (a non-finite loss or weight): exit 1."""


class Stopped(RunEnded):
    """SIGINT / SIGTERM stopped training; the summary and checkpoint are written: exit 1."""

    def __init__(self, message: str, signal_name: str, summary: dict):
        super().__init__(message)
        self.signal_name, self.summary = signal_name, summary


def fail(message: str, code: int = 2) -> NoReturn:
    """End the run with one line on stderr: ``BadInput`` (exit 2) or, with ``code=1``,
    ``TrainingFailed`` (exit 1)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise BadInput(message) if code == 2 else TrainingFailed(message)


def _require(module: str, extra: str, env_id: str) -> None:
    try:
        __import__(module)
    except ImportError:
        fail(f"{env_id} needs the optional package '{module}': pip install -e '.[{extra}]'")


def atari_v5_id(env_id: str) -> str | None:
    """``ALE/Breakout-v5`` for an Atari id of gym's older families (``BreakoutNoFrameskip-v4``,
    ``BreakoutDeterministic-v4``, ``Breakout-v0``: what CleanRL's and SB3's docs use), else None."""
    match = re.fullmatch(r"([A-Z][A-Za-z]*?)(NoFrameskip|Deterministic)?-v[04]", env_id)
    if match is None:
        return None
    import gymnasium as gym

    if env_id not in gym.registry:  # the old ids are registered by ale_py
        try:
            import ale_py
        except ImportError:
            return f"ALE/{match[1]}-v5" if match[2] else None
        gym.register_envs(ale_py)
    spec = gym.registry.get(env_id)
    return f"ALE/{match[1]}-v5" if spec is not None and "ale_py" in str(spec.entry_point) else None


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
    # CPU kernels are deterministic for a fixed thread count; the switch matters on GPUs, and setting it
    # imports torch's compiler stack (~2 s per process on a small CPU), so only where CUDA exists.
    if torch_deterministic and torch.cuda.is_available():
        torch.use_deterministic_algorithms(True, warn_only=True)


def pick_device(cuda: bool) -> torch.device:
    return torch.device("cuda" if cuda and torch.cuda.is_available() else "cpu")


# Networks with at least this many parameters in all train ~1.4x faster on two threads than on one
# on a 2-core CPU; smaller ones are fastest on one (benchmarks/notes.md, "Threads"). Two, not every
# core: the thread count changes float rounding, and a fixed count gives the same command the same
# curve on any machine with two cores or more.
MANY_THREADS_FROM = 100_000
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


def threads_for(requested: int, *networks: torch.nn.Module) -> int:
    """torch's CPU thread count for ``--torch-threads``: ``requested`` when positive; 0 (auto) gives
    one thread to networks with fewer than MANY_THREADS_FROM parameters in all (and to none: the
    scripts build their networks on one thread, then call this again with them), else MANY_THREADS,
    at most the physical cores and $OMP_NUM_THREADS where that is set (runs side by side on one
    machine: more threads than free cores make each run several times slower). A negative count
    ends the run with one line (exit 2)."""
    if requested < 0:
        fail(f"--torch-threads {requested}: expected 0 (auto) or a positive count")
    if requested > 0:
        return requested
    size = sum(p.numel() for net in networks for p in net.parameters())
    cap = os.environ.get("OMP_NUM_THREADS", "")
    cores = min(physical_cores(), int(cap)) if cap.isdigit() and int(cap) > 0 else physical_cores()
    return min(MANY_THREADS, cores) if size >= MANY_THREADS_FROM else 1


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


TUNED_SETTINGS = (
    "Tuned settings per env: docs/BENCHMARKS.md, 'Tuned settings per env' (one command per env), or "
    "./benchmark.sh SUITE --envs ENV --algos SCRIPT --print-jobs."
)


def cli(args_class):
    """``tyro.cli(args_class)``, except that with ``--resume PATH`` the defaults are the Args stored in
    that checkpoint: ``--resume PATH`` alone continues the run as configured, other flags override."""
    import tyro

    argv, path = sys.argv[1:], None
    for i, arg in enumerate(argv):
        if arg == "--resume" and i + 1 < len(argv):
            path = argv[i + 1]
        elif arg.startswith("--resume="):
            path = arg.split("=", 1)[1]
    if "-h" in argv or "--help" in argv:  # the script's first docstring line, and where tuned settings are
        title = ((sys.modules[args_class.__module__].__doc__ or "").strip().splitlines() or [""])[0]
        return tyro.cli(args_class, description=f"{title}\n\n{TUNED_SETTINGS}")
    default = tyro.MISSING_NONPROP
    if path is not None and path != "None":
        default = args_from_checkpoint(args_class, load_checkpoint(path, mmap=True))
    boxed = io.StringIO()
    try:
        with contextlib.redirect_stderr(boxed):
            return tyro.cli(args_class, default=default)
    except SystemExit as stop:
        if stop.code in (0, None):
            raise
        fail(_explain(args_class, argv) or _first_line(boxed.getvalue()))


def _explain(args_class, argv: list[str]) -> str | None:
    """One line for the usual command-line mistakes (an unknown flag, a value of the wrong type or
    outside a Literal's choices, a missing value), found from ``argv`` and the Args' types."""
    import typing

    hints = typing.get_type_hints(args_class)
    flags = {"--" + name.replace("_", "-"): hint for name, hint in hints.items()}
    flags.update({"--no-" + flag[2:]: bool for flag, hint in list(flags.items()) if hint is bool})
    i = 0
    while i < len(argv):
        flag, has_inline, inline = argv[i].partition("=")
        i += 1
        if not flag.startswith("--"):
            return f"unexpected argument '{flag}'; options start with --"
        if flag not in flags:
            close = difflib.get_close_matches(flag, list(flags), n=1)
            return f"unrecognized option {flag}" + (f" (did you mean {close[0]}?)" if close else "")
        hint = flags[flag]
        if hint is bool:
            continue
        values = [inline] if has_inline else []
        while not has_inline and i < len(argv) and not argv[i].startswith("--"):
            values.append(argv[i])
            i += 1
        if not values:
            return f"{flag} needs a value"
        kinds = typing.get_args(hint) or (hint,)
        choices = [c for k in kinds if typing.get_origin(k) is typing.Literal for c in typing.get_args(k)]
        if typing.get_origin(hint) is typing.Literal:
            choices = list(kinds)
        for value in values:
            if value == "None" and type(None) in kinds:
                continue
            if choices:
                if value not in map(str, choices):
                    return f"{flag} must be one of {', '.join(map(str, choices))} (got {value})"
                continue
            for kind, word in ((int, "an integer"), (float, "a number")):
                if kind in kinds:
                    try:
                        kind(value)
                    except ValueError:
                        return (
                            f"{flag} must be {word}{' or None' if type(None) in kinds else ''} (got {value})"
                        )
                    break
    return None


def _first_line(rendered: str) -> str:
    """The first line of text in tyro's rendered error box (any other mistake than ``_explain``'s)."""
    for line in re.sub(r"\x1b\[[0-9;]*m", "", rendered).splitlines():
        text = line.strip("│╭╰─╮╯|+-= ")
        if text and not text.lower().startswith(("value error", "parsing error")):
            return text[0].lower() + text[1:]
    return "cannot parse the arguments; see --help"


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


def _first_non_finite(obj: Any, where: str = "") -> str | None:
    """Key path of the first floating tensor with a NaN or inf inside nested dicts/lists, else None."""
    if isinstance(obj, torch.Tensor):
        return where or "tensor" if obj.is_floating_point() and not torch.isfinite(obj).all() else None
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list | tuple) else ()
    for key, value in items:
        found = _first_non_finite(value, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def _script_name(args: Any) -> str:
    """``ppo`` for Args defined in algos/ppo.py, run as a script or imported."""
    module = sys.modules.get(type(args).__module__)
    return Path(getattr(module, "__file__", "") or type(args).__module__).stem


# ---- env state for exact resume ---------------------------------------------------------------
# A vector env's factories (closures) do not pickle, so its state is saved layer by layer: each
# wrapper's attributes except the inner env, and the sub-envs themselves. Envs that pickle only their
# constructor arguments (gymnasium's EzPickle: MuJoCo, Box2D, ALE) would come back freshly built, not
# in their current state: for those no state is saved and a resumed run starts new episodes.


def _layers(env) -> list:
    import gymnasium as gym

    layers = [env]
    while isinstance(env, gym.Wrapper | gym.vector.VectorWrapper):
        env = env.env
        layers.append(env)
    return layers


def _restorable(env) -> bool:
    from gymnasium.utils import EzPickle

    for layer in _layers(env):
        if isinstance(layer, EzPickle) and type(layer).__getstate__ is EzPickle.__getstate__:
            return False
        if not all(_restorable(sub) for sub in getattr(layer, "envs", None) or ()):
            return False
    return True


def env_state(envs) -> bytes | None:
    """The pickled state of a (vector) env and its wrappers, or None where it cannot be restored
    exactly (async vector envs, EzPickle envs: MuJoCo, Box2D, ALE)."""
    try:
        if not _restorable(envs):
            return None
        skip = ("env", "env_fns")
        return pickle.dumps(
            [
                (type(layer).__name__, {k: v for k, v in vars(layer).items() if k not in skip})
                for layer in _layers(envs)
            ]
        )
    except Exception:  # processes, pipes, renderers...: not restorable
        return None


def set_env_state(envs, state: bytes | None) -> bool:
    """Put a state from ``env_state`` into freshly built ``envs`` of the same structure; False if it
    cannot (then the caller resets the envs)."""
    if state is None:
        return False
    saved, layers = pickle.loads(state), _layers(envs)
    if [name for name, _ in saved] != [type(layer).__name__ for layer in layers]:
        return False
    for layer, (_, attributes) in zip(layers, saved):
        for sub in getattr(layer, "envs", None) or ():
            sub.close()
        layer.__dict__.update(attributes)
    return True


# ---- evaluation of a saved agent --------------------------------------------------------------


def has_display() -> bool:
    return not sys.platform.startswith("linux") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def render_off_screen() -> None:
    """Without a display, render videos off-screen: MuJoCo through EGL (else ``mujoco.FatalError``),
    pygame (classic control, Box2D) with SDL's dummy driver (else libwayland prints ``error:
    XDG_RUNTIME_DIR is invalid or not set``). A variable the user set is kept."""
    if not has_display():
        os.environ.setdefault("MUJOCO_GL", "egl")
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def eval_env(
    env_id: str, checkpoint: str, capture_video: bool = False, render: bool = False, wrap=None, **kwargs
):
    """One env for evaluating a saved agent: ``render_mode="human"`` with ``render``, mp4 files of every
    episode in the run folder's ``videos/`` with ``capture_video``, raw episodic returns recorded by
    ``RecordEpisodeStatistics`` before the script's own ``wrap`` (e.g. Atari preprocessing, reward
    clipping), so that evaluation reports the raw score."""
    import gymnasium as gym

    if render and capture_video:
        fail("--render and --capture-video exclude each other (a window or mp4 files): pick one")
    if render and not has_display():
        fail(
            "--render needs a display and none was found (DISPLAY is not set); use --capture-video for mp4 files"
        )
    if capture_video:
        render_off_screen()
    check_env_id(env_id)
    env = gym.make(
        env_id, render_mode="human" if render else "rgb_array" if capture_video else None, **kwargs
    )
    if capture_video:
        ckpt = Path(checkpoint)
        run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
        try:
            with warnings.catch_warnings():  # "overwriting existing videos": training's are kept
                warnings.simplefilter("ignore")
                env = gym.wrappers.RecordVideo(
                    env,
                    str(run_dir / "videos"),
                    episode_trigger=lambda _: True,
                    name_prefix=f"eval-{ckpt.stem}",
                )
        except gym.error.DependencyNotInstalled:
            fail("--capture-video needs the optional package 'moviepy': pip install -e '.[video]'")
    env = gym.wrappers.RecordEpisodeStatistics(env)
    return wrap(env) if wrap is not None else env


def run_episodes(env, act: Callable[[Any], Any], episodes: int, seed: int) -> dict:
    """Play ``episodes`` episodes with ``act(obs) -> action``, one line per episode; the raw returns
    counted by the ``RecordEpisodeStatistics`` inside ``env`` (a lost life under an episodic-life
    wrapper is not an episode), the lengths in agent steps (calls of ``act``: with Atari's frame skip,
    a quarter of the emulator frames). Returns ``{"mean", "std", "returns", "lengths"}``."""
    if episodes < 1:
        fail(f"--episodes must be at least 1, not {episodes}")
    torch.manual_seed(seed)
    returns, lengths, steps = [], [], 0
    obs, _ = env.reset(seed=seed)
    try:
        while len(returns) < episodes:
            obs, _, terminated, truncated, info = env.step(act(obs))
            steps += 1
            if "episode" in info:
                returns.append(float(info["episode"]["r"]))
                lengths.append(steps)
                steps = 0
                print(
                    f"episode {len(returns)}/{episodes}: return {returns[-1]:.2f}, {lengths[-1]} steps",
                    flush=True,
                )
            if (terminated or truncated) and len(returns) < episodes:
                obs, _ = env.reset()
    finally:
        env.close()
    return {
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "returns": returns,
        "lengths": lengths,
    }


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Run:
    """One training run: ``runs/{env}__{exp_name}__{seed}__{time}/`` with TensorBoard events,
    ``args.json``, ``curve.csv`` and ``checkpoints/``; the mean of the last 100 episodic returns;
    the ``report(global_step, mean_return) -> stop?`` hook; SIGINT / SIGTERM turned into a flag
    that the training loop checks once per iteration (``run.stop_signal``).
    """

    def __init__(
        self,
        args: Any,
        report: Callable[[int, float], bool | None] | None = None,
        resume: dict | None = None,
    ):
        from torch.utils.tensorboard import SummaryWriter

        self.args = args
        self.report = report
        name = f"{args.env_id.replace('/', '_')}__{args.exp_name}__{args.seed}__{int(time.time())}"
        self.dir = Path(getattr(args, "runs_dir", "runs")) / name
        resume_step = None
        if resume is not None:  # continue in the checkpoint's run folder where there is one
            resume_step = int(resume["global_step"])
            ckpt_dir = Path(getattr(args, "resume", None) or ".").parent
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
        self.returns: deque[float] = deque(maxlen=100)
        self.episodes = 0
        self._new_episodes = False
        self.start_time = time.time()
        self.start_step = 0
        self.last_checkpoint: Path | None = None
        if resume is not None:
            self.last_checkpoint = Path(args.resume) if getattr(args, "resume", None) else None
            self.start_step = resume_step
            self.returns.extend(resume.get("run", {}).get("returns", []))
            self.episodes = resume.get("run", {}).get("episodes", 0)
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
            budget = max(int(getattr(self.args, "total_timesteps", 0)), 1)
            left = _duration((budget - global_step) / sps) if sps > 0 and global_step < budget else "0s"
            print(
                f"step {global_step:>9,d} {min(global_step / budget, 1.0):4.0%}  return {self.mean_return:9.2f}"
                f"  episodes {self.episodes:>6d}  sps {sps:>6d}  left {left:>6s}  {extra}",
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

    def _truncate_curve(self, step: int) -> None:
        """Drop the curve rows a crashed run wrote after the checkpoint it is resumed from."""
        path = self.dir / "curve.csv"
        rows = list(csv.reader(path.open(newline="")))
        kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) <= step]
        with path.open("w", newline="") as f:
            csv.writer(f).writerows(kept)

    def state_dict(self) -> dict:
        """What a resumed run needs to continue the curve: the last 100 returns and the episode count."""
        return {"returns": list(self.returns), "episodes": self.episodes}

    def save_checkpoint(self, state: dict, name: str = "latest") -> Path:
        """Write ``checkpoints/{name}.pt`` atomically: a kill mid-write leaves the old file intact.

        Adds ``script`` (the algos/ file name) and ``run`` (curve state) to ``state``. Refuses, with one
        line and exit 1, to write a state with a non-finite floating tensor: NaN weights never replace
        a good checkpoint."""
        bad = _first_non_finite(state)
        if bad is not None:
            step = state.get("global_step", "?")
            self.fail(
                f"non-finite values in {bad} at step {step}: {name}.pt not written; {self._checkpoint_note()}"
            )
        state = {"script": _script_name(self.args), **state, "run": self.state_dict()}
        path = self.dir / "checkpoints" / f"{name}.pt"
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
        self.last_checkpoint = path
        return path

    def _checkpoint_note(self) -> str:
        if self.last_checkpoint is None:
            return "no checkpoint was written (--checkpoint-every N writes them during training)"
        return f"last good checkpoint: {self.last_checkpoint}"

    def check_finite(self, global_step: int, losses: dict[str, float], *modules: torch.nn.Module) -> None:
        """Stop with one line and exit 1 if a loss, or a weight or buffer of ``modules`` after the update,
        is not finite; the last checkpoint is left as it is."""
        for name, value in losses.items():
            if not np.isfinite(value):
                self.fail(f"non-finite {name} ({value}) at step {global_step}; {self._checkpoint_note()}")
        for module in modules:  # weights and buffers (e.g. normalisation statistics)
            for name, param in module.state_dict().items():
                if param.is_floating_point() and not torch.isfinite(param).all():
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

    def finish(self, global_step: int) -> dict:
        """Close the run and write ``summary.json``; return the summary, or raise ``Stopped`` (exit 1)
        when a signal ended training."""
        self._close()
        wall = time.time() - self.start_time
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
