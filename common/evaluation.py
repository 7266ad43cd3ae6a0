"""Evaluation of a saved agent (``python evaluate.py CHECKPOINT``): the env as in training, with
raw episodic returns, videos or a window; the script's ``policy(state, args, env, greedy)`` gives
``act(obs) -> action``; mean and std of the returns over K episodes.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from common.atari import ale_kwargs, preprocess
from common.checkpoints import args_from_checkpoint, load_checkpoint
from common.envs import check_env_id, has_display, render_off_screen
from common.errors import fail


def evaluate(
    checkpoint: str,
    episodes: int = 10,
    greedy: bool = True,
    capture_video: bool = False,
    render: bool = False,
    seed: int = 10_000,
) -> dict:
    """Play the agent saved in ``checkpoint`` for ``episodes`` episodes with the ``policy`` of the script
    that wrote it (greedy, or sampling as in training); returns ``{"mean", "std", "returns",
    "lengths"}`` of the raw episodic return (Atari: the game score, no reward clipping)."""
    state = load_checkpoint(checkpoint)
    script = state.get("script")
    if script is None:
        fail(f"{checkpoint} does not name the script that wrote it (a checkpoint from before evaluate.py)")
    try:
        module = importlib.import_module(f"algos.{script}")
    except ModuleNotFoundError:
        fail(f"{checkpoint} was written by algos/{script}.py, which this checkout does not have")
    args = args_from_checkpoint(module.Args, state)
    env = eval_env(args, checkpoint, capture_video, render)
    return run_episodes(env, module.policy(state, args, env, greedy), episodes, seed)


def eval_env(args, checkpoint: str, capture_video: bool = False, render: bool = False):
    """One env for evaluating a saved agent: ``render_mode="human"`` with ``render``, mp4 files of every
    episode in the run folder's ``videos/`` with ``capture_video``, raw episodic returns recorded by
    ``RecordEpisodeStatistics`` before the Atari preprocessing, so that evaluation reports the raw score."""
    if render and capture_video:
        fail("--render and --capture-video exclude each other (a window or mp4 files): pick one")
    if render and not has_display():
        fail(
            "--render needs a display and none was found (DISPLAY is not set); use --capture-video for mp4 files"
        )
    if capture_video:
        render_off_screen()
    check_env_id(args.env_id)
    atari = args.env_id.startswith("ALE/")
    kwargs = ale_kwargs(args) if atari else {}
    mode = "human" if render else "rgb_array" if capture_video else None
    env = gym.make(args.env_id, render_mode=mode, **kwargs)
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
    return preprocess(env, args) if atari else env


def run_episodes(env, act: Callable[[Any], Any], episodes: int, seed: int) -> dict:
    """Play ``episodes`` episodes with ``act(obs) -> action``, one line per episode; the raw returns
    counted by the ``RecordEpisodeStatistics`` inside ``env`` (a lost life under an episodic-life
    wrapper is not an episode), the lengths in agent steps (calls of ``act``: with Atari's frame skip,
    a quarter of the emulator frames). Returns ``{"mean", "std", "returns", "lengths"}``."""
    if episodes < 1:
        fail(f"--episodes must be at least 1, not {episodes}")
    torch.manual_seed(seed)
    returns, lengths, steps = [], [], 0
    act = torch.inference_mode()(act)
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
