"""Atari envs for the four *_atari.py scripts, one way for all: the game of ``ALE/<Game>-v5`` in
ale_py's native ``AtariVectorEnv`` (the default: in C++ threads, 4 skipped frames with max-pooling of
the last two, 84x84 grayscale, up to 30 no-op starts, stacks of 4 frames padded with the episode's
first frame). ``--engine gymnasium`` builds the same from ``frameskip=1``, Gymnasium's
``AtariPreprocessing`` and ``FrameStackObservation(4)``: the same frames, rewards and episode ends
(tests/test_atari_engines.py), ~1.6x slower to step (8 envs, 2 cores); it records videos
(``--capture-video``) and evaluation uses it. Obs stay uint8 until the device, the ``/ 255`` happens
inside the network. What each choice does to the scores:

- Logged ``charts/episodic_return`` is the raw game score of a whole game (all lives):
  ``RecordEpisodeStatistics`` wraps the vector env *inside* the ``sign(r)`` reward clipping that
  only the learner sees. One step = 4 frames: 10M steps are 40M frames.
- ``--repeat-action-probability 0.25`` (sticky actions, ALE v5 default, Machado et al. 2018) makes
  the game stochastic; scores run lower than the v4 / NoFrameskip numbers (0.0 to compare with those).
- ``--terminal-on-life-loss`` (off by default; ``TerminalOnLifeLoss``) marks a lost life as terminal
  *for learning only* (bootstrap zeroed) without resetting the game, so logged scores stay whole
  games. (``AtariPreprocessing``'s own flag resets the whole game at each lost life: scores would be
  one life's.)
- ALE v5 truncates a game at 108k frames (30 min); no-op starts randomise the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import gymnasium as gym
import numpy as np

from common.envs import make_envs as make_gym_envs
from common.errors import fail


@dataclass
class AtariEnvArgs:
    """The env settings of the four Atari scripts (their ``Args`` extend it; ``make_envs`` reads them)."""

    repeat_action_probability: float = 0.25
    """sticky actions (ALE v5 default; 0.0 for v4-style numbers)"""
    terminal_on_life_loss: bool = False
    """a lost life is terminal for learning (the game goes on; logged returns stay whole games)"""
    noop_max: int = 30
    """at most this many no-op actions at each reset"""
    engine: Literal["native", "gymnasium"] = "native"
    """native: ale_py's C++ vector env; gymnasium: Gymnasium's wrappers, same frames (for --capture-video)"""
    env_threads: int = 0
    """native engine: threads that step the envs (0: one per env, at most the CPU count; same results)"""


def check_atari(args, use_instead: str) -> None:
    """One line and exit 2, before any run folder exists, for an env id that is not ``ALE/<Game>-v5``
    (naming the script to use instead), for ``--capture-video`` with the native engine, and for a frame
    replay (``args.buffer_size``: dqn_atari, sac_atari) with fewer than 16 slots per env."""
    if not args.env_id.startswith("ALE/"):
        fail(f"{args.env_id} is not an Atari env (ALE/<Game>-v5): use {use_instead}")
    if args.capture_video and args.engine == "native":
        fail("--capture-video needs --engine gymnasium (ale_py's native vector env does not render)")
    if hasattr(args, "buffer_size"):
        slots = args.buffer_size // max(args.num_envs, 1)
        if slots < 16:
            fail(
                f"--buffer-size {args.buffer_size} gives {slots} slots per env for --num-envs {args.num_envs}: need >= 16"
            )


def ale_kwargs(args) -> dict:
    """``gym.make`` arguments of the Gymnasium engine and of evaluation: every frame (``preprocess`` skips)."""
    return {"frameskip": 1, "repeat_action_probability": args.repeat_action_probability}


def preprocess(env: gym.Env, args) -> gym.Env:
    """The Gymnasium engine's preprocessing of one ``ale_kwargs`` env, as training and evaluation see it:
    frame skip 4 with max-pool, up to ``args.noop_max`` no-ops at reset, 84x84 gray, 4 stacked frames."""
    env = gym.wrappers.AtariPreprocessing(env, noop_max=args.noop_max, frame_skip=4, screen_size=84)
    return gym.wrappers.FrameStackObservation(env, 4)


class RepeatFirstFrame(gym.vector.VectorWrapper):
    """ale_py's native stacks start an episode as [0, 0, 0, x0]; this fills the zeros with x0, as
    Gymnasium's ``FrameStackObservation`` and the replay memory's stacks do: [x0, x0, x0, x0]."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.frames = np.ones(self.num_envs, dtype=np.int64)  # frames of its episode in each stack
        return self.fill(obs, self.frames), info

    def step(self, actions):
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        ended = terminated | truncated
        if "final_obs" in info:  # SAME_STEP: the ended episodes' real last stacks
            self.fill(info["final_obs"], np.where(ended, self.frames + 1, 4))
        self.frames = np.where(ended, 1, np.minimum(self.frames + 1, 4))
        return self.fill(obs, self.frames), rewards, terminated, truncated, info

    @staticmethod
    def fill(stacks: np.ndarray, frames: np.ndarray) -> np.ndarray:
        for e in np.flatnonzero(frames < 4):
            stacks[e, : 4 - frames[e]] = stacks[e, 4 - frames[e]]
        return stacks


class TerminalOnLifeLoss(gym.vector.VectorWrapper):
    """``--terminal-on-life-loss``: a lost life is ``terminated`` for the learner only; the game goes on
    (no reset, the next observation is the same game's) and the statistics inside count whole games.
    ``info["life_lost"]`` marks those steps: there the episode has not ended (no final observation)."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.lives = info["lives"]
        return obs, info

    def step(self, actions):
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        info["life_lost"] = info["lives"] < self.lives  # a new game (SAME_STEP) has more lives
        self.lives = info["lives"]
        terminated = terminated | info["life_lost"]
        return obs, rewards, terminated, truncated, info


def make_envs(args, video_dir: str) -> gym.vector.VectorEnv:
    """``args.num_envs`` Atari envs as ALE v5 with the standard preprocessing (sticky actions
    ``args.repeat_action_probability``, up to ``args.noop_max`` no-ops at reset, frame skip 4 with
    max-pool, 84x84 gray, 4 stacked frames), SAME_STEP autoreset; statistics of the raw score, then
    sign(r) for the learner (order matters), and with ``args.terminal_on_life_loss`` lost lives as
    terminations, for the learner too. ``args.engine``: ``native`` (ale_py's C++ vector env,
    ``args.env_threads``) or ``gymnasium`` (the wrapper stack; video capture of env 0)."""
    if args.engine == "native":
        from ale_py.vector_env import AtariVectorEnv

        spec = gym.spec(args.env_id).kwargs  # its defaults: frame skip 4 with max-pool, 84x84 gray, stack 4
        envs = AtariVectorEnv(
            spec["game"],
            args.num_envs,
            num_threads=args.env_threads,
            max_num_frames_per_episode=spec["max_num_frames_per_episode"],
            repeat_action_probability=args.repeat_action_probability,
            noop_max=args.noop_max,
            reward_clipping=False,  # the raw score: sign(r) comes last, outside the statistics
            use_fire_reset=False,  # as AtariPreprocessing
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        )
        envs = gym.wrappers.vector.RecordEpisodeStatistics(RepeatFirstFrame(envs))
    else:
        envs = make_gym_envs(args, video_dir, lambda env: preprocess(env, args), **ale_kwargs(args))
    envs = gym.wrappers.vector.TransformReward(envs, np.sign)
    return TerminalOnLifeLoss(envs) if args.terminal_on_life_loss else envs
