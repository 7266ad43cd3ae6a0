"""Argument ranges: one check of a script's ``Args`` before anything is built.

``check_args(args)`` looks up every field of ``args`` in ``RANGES`` (the same name means the same
thing in every script) and ends bad input with one line, e.g. ``error: --num-envs must be >= 1
(got 0)``, exit 2. Then the checks between fields that every script with those fields needs (a batch
larger than the buffer or than ``learning_starts``, minibatches that do not divide the rollout; a
note when learning would start after the budget ends) and the old Atari ids (``BreakoutNoFrameskip-v4``). Where a field of one script
means something else, ``SCRIPT_RANGES`` says so.

It runs at the top of each script's ``train()``, so the tuner's in-process trials are checked too.
``whole_rollouts`` is the on-policy scripts' number of rollouts for a budget (at least one), with one
line when that is not exactly the asked budget.
"""

from __future__ import annotations

import math
import re
from typing import Any

from common.envs import atari_v5_id, render_off_screen
from common.errors import fail
from common.runs import _script_name

# A range is ">= a", "> a", or an interval "[a, b]", "(a, b]", "[a, b)", "(a, b)"; "any" is any
# finite number. Floats must be finite; None (an optional argument left unset) is not checked; a
# tuple (``hidden_sizes``) is checked element by element. Every int or float field of every script
# is listed here (tests/test_bad_input.py checks it).
RANGES = {
    # budget, envs, run
    "seed": "[0, 4294967295]",  # numpy's seed range
    "total_timesteps": ">= 1",
    "num_envs": ">= 1",
    "torch_threads": ">= 0",  # 0: auto (common/runs.py threads_for)
    "env_threads": ">= 0",  # 0: one emulator thread per env
    "checkpoint_every": ">= 0",
    "log_every": ">= 1",
    "noop_max": ">= 0",
    "repeat_action_probability": "[0, 1]",
    "hidden_sizes": ">= 1",
    # optimisation
    "learning_rate": "> 0",
    "policy_lr": "> 0",
    "q_lr": "> 0",
    "weight_decay": ">= 0",
    "max_grad_norm": "> 0",
    "gamma": "[0, 1]",
    # on-policy
    "num_steps": ">= 1",
    "num_minibatches": ">= 1",
    "update_epochs": ">= 1",
    "gae_lambda": "[0, 1]",
    "clip_coef": "> 0",
    "target_kl": "> 0",
    "ent_coef": ">= 0",
    "ent_coef_end": ">= 0",
    "vf_coef": ">= 0",
    "init_log_std": "any",
    "obs_clip": "> 0",
    "reward_clip": "> 0",
    # off-policy
    "buffer_size": ">= 1",
    "batch_size": ">= 1",
    "learning_starts": ">= 0",
    "train_frequency": ">= 1",
    "gradient_steps": ">= 1",
    "target_network_frequency": ">= 1",
    "update_frequency": ">= 1",
    "policy_frequency": ">= 1",
    "updates_per_step": ">= 1",
    "tau": "(0, 1]",
    "huber_delta": "> 0",
    "n_step": ">= 1",
    "start_e": "[0, 1]",  # epsilon, a probability (sarsa: also Boltzmann's temperature, below)
    "end_e": "[0, 1]",
    "exploration_fraction": "[0, 1]",
    # prioritized replay
    "per_alpha": ">= 0",
    "per_beta": "[0, 1]",
    "per_eps": "> 0",
    "beta_start": "[0, 1]",
    "prior_eps": "> 0",
    # SAC: alpha is the entropy temperature (learned as log alpha); dqn_per's alpha is PER's
    "alpha": "> 0",
    "alpha_min": ">= 0",
    "target_entropy_scale": "[0, 1]",
    "target_entropy_end_scale": "[0, 1]",
    "target_entropy_decay_steps": ">= 0",
}

# Fields whose meaning in one script (algos/<name>.py) differs from RANGES'.
SCRIPT_RANGES = {
    "dqn_per": {"alpha": ">= 0"},  # PER's priority exponent (0: uniform replay)
    "sarsa": {"start_e": "> 0", "end_e": "> 0"},  # a temperature with --exploration boltzmann
}

_INTERVAL = re.compile(r"([\[(])\s*(\S+),\s*(\S+)\s*([\])])")


def in_range(value: float, spec: str) -> bool:
    """Whether a finite ``value`` lies in ``spec`` (see ``RANGES``)."""
    if spec == "any":
        return True
    if spec.startswith(">="):
        return value >= float(spec[2:])
    if spec.startswith(">"):
        return value > float(spec[1:])
    opening, low, high, closing = _INTERVAL.fullmatch(spec).groups()
    low, high = float(low), float(high)
    above = value >= low if opening == "[" else value > low
    below = value <= high if closing == "]" else value < high
    return above and below


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def ranges_of(script: str) -> dict[str, str]:
    """The range of every numeric field of algos/<script>.py."""
    return {**RANGES, **SCRIPT_RANGES.get(script, {})}


def check_ranges(args: Any) -> None:
    """One line and exit 2 for the first field of ``args`` outside its range."""
    table = ranges_of(_script_name(args))
    for name, value in vars(args).items():
        if name not in table or value is None or isinstance(value, bool | str):
            continue
        spec = table[name]
        for v in value if isinstance(value, tuple | list) else (value,):
            if isinstance(v, float) and not math.isfinite(v):
                fail(f"{_flag(name)} must be a finite number (got {v})")
            if not in_range(v, spec):
                shown = " ".join(map(str, value)) if isinstance(value, tuple | list) else value
                where = "in " if spec[0] in "[(" else ""
                fail(f"{_flag(name)} must be {where}{spec} (got {shown})")


def check_args(args: Any) -> None:
    """Every check of ``args`` that needs no env: ranges, then the checks between fields; and with
    ``--capture-video`` on a machine without a display, off-screen rendering (``render_off_screen``)."""
    check_ranges(args)
    a = vars(args)
    if a.get("exploration") == "epsilon" and not in_range(args.start_e, "[0, 1]"):
        fail(f"--start-e must be in [0, 1] with --exploration epsilon (got {args.start_e})")
    if a.get("exploration") == "epsilon" and not in_range(args.end_e, "[0, 1]"):
        fail(f"--end-e must be in [0, 1] with --exploration epsilon (got {args.end_e})")
    if "batch_size" in a and "buffer_size" in a and args.batch_size > args.buffer_size:
        fail(f"--batch-size {args.batch_size} is larger than --buffer-size {args.buffer_size}")
    if "batch_size" in a and "learning_starts" in a and args.batch_size > args.learning_starts:
        fail(
            f"--batch-size {args.batch_size} is larger than --learning-starts {args.learning_starts}: "
            "the first update would sample from fewer transitions than a batch"
        )
    if "learning_starts" in a and "buffer_size" in a and args.learning_starts > args.buffer_size:
        fail(f"--learning-starts {args.learning_starts} is larger than --buffer-size {args.buffer_size}")
    if "learning_starts" in a and args.learning_starts >= args.total_timesteps:  # e.g. to fill a buffer
        print(
            f"note: --learning-starts {args.learning_starts:,d} is not below --total-timesteps "
            f"{args.total_timesteps:,d}: no update will be made",
            flush=True,
        )
    if "buffer_size" in a and args.num_envs > args.buffer_size:
        fail(f"--num-envs {args.num_envs} is larger than --buffer-size {args.buffer_size}")
    if "num_minibatches" in a and "num_steps" in a:
        batch = args.num_envs * args.num_steps
        if batch % args.num_minibatches:
            fail(
                f"--num-minibatches {args.num_minibatches} does not divide the batch "
                f"num_envs * num_steps = {args.num_envs} * {args.num_steps} = {batch}"
            )
    if getattr(args, "capture_video", False):  # before anything imports mujoco or pygame
        render_off_screen()
    v5 = atari_v5_id(args.env_id)
    if v5 is not None:
        fail(f"{args.env_id} is a v4 Atari id: use {v5} (the v5 id; algos/*_atari.py train it)")


def whole_rollouts(total_timesteps: int, batch_size: int) -> int:
    """How many rollouts of ``batch_size`` env steps an on-policy script trains: as many as fit in the
    budget, at least one; one line says what runs when that is not exactly the asked budget."""
    rollouts = max(total_timesteps // batch_size, 1)
    if rollouts * batch_size != total_timesteps:
        what = f"{rollouts:,d} rollout{'s' if rollouts > 1 else ''}, {rollouts * batch_size:,d} steps"
        print(
            f"note: --total-timesteps {total_timesteps:,d} is not a whole number of {batch_size:,d}-step "
            f"rollouts: training {what}",
            flush=True,
        )
    return rollouts
