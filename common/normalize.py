"""Observation normalisation and reward scaling for a vector env, once per vector step with one set of
running statistics for all its envs (OpenAI baselines' VecNormalize), in SAME_STEP autoreset mode: the
final observations in ``info["final_obs"]`` are normalised too, so a truncated episode bootstraps from
V(normalised final observation).

Why not Gymnasium's wrappers: its vector ``NormalizeObservation`` refuses SAME_STEP autoreset (it would
leave ``info["final_obs"]`` raw), and per-env ``NormalizeObservation`` keeps one set of statistics per env.
With 4 envs that broke ppo_continuous.py on Pendulum-v1 (the classic suite's setting, seed 1, 100k steps:
-1209.6 with per-env statistics, -218.6 with these shared ones, -252.7 without observation normalisation;
one env: -164.8). Used by ppo_continuous.py; the math is that of Gymnasium's per-env NormalizeObservation
(+ clip) and vector NormalizeReward (+ clip) over the pooled batch.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd


def update_running_stats(rms: RunningMeanStd, x: np.ndarray) -> None:
    """``rms.update(x)`` (pooled mean and variance with the batch ``x`` along axis 0) in fewer numpy
    calls; one row (one env) skips the batch's own variance, which is 0."""
    n, count = x.shape[0], rms.count
    if n == 1:
        delta, batch_m2 = x[0] - rms.mean, 0.0
    else:
        batch_mean = x.sum(0) / n
        delta, batch_m2 = batch_mean - rms.mean, np.square(x - batch_mean).sum(0)
    total = count + n
    rms.mean = rms.mean + delta * (n / total)
    rms.var = (rms.var * count + batch_m2 + np.square(delta) * (count * n / total)) / total
    rms.count = total


class Normalize(gym.vector.VectorWrapper):
    """Observation normalisation and reward scaling (OpenAI baselines' VecNormalize) once per vector
    step, with one set of running statistics for all envs: the math of Gymnasium's per-env
    NormalizeObservation (+ clip) and vector NormalizeReward (+ clip), ``info["final_obs"]`` included.

    obs: update the running mean/var with the batch, then ``clip((obs - mean) / sqrt(var + 1e-8))``.
    rewards: ``G <- gamma * G * (1 - terminated) + r`` per env (0 after an episode ends), update the
    running var of G, then ``clip(r / sqrt(var + 1e-8))``.
    """

    def __init__(self, envs, args):
        super().__init__(envs)
        space = envs.single_observation_space
        self.obs_rms = RunningMeanStd(shape=space.shape, dtype=space.dtype) if args.norm_obs else None
        self.return_rms = RunningMeanStd(shape=()) if args.norm_reward else None
        self.returns = np.zeros(envs.num_envs)
        self.gamma, self.obs_clip, self.reward_clip = args.gamma, args.obs_clip, args.reward_clip

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.returns[:] = 0.0
        return self.obs(obs), info

    def step(self, actions):
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        ended = terminated | truncated
        if ended.any():  # final observations update the statistics before the reset ones, as per-env wrappers
            final_obs = self.obs(np.stack(info["final_obs"][ended]))
            for i, x in zip(np.flatnonzero(ended), final_obs):
                info["final_obs"][i] = x
        return self.obs(obs), self.reward(rewards, terminated, truncated), terminated, truncated, info

    def obs(self, obs: np.ndarray) -> np.ndarray:
        """A batch of raw observations (B, ...) -> float32 (B, obs_dim), updating the statistics first."""
        if self.obs_rms is not None:
            update_running_stats(self.obs_rms, obs)
            obs = ((obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + 1e-8)).clip(
                -self.obs_clip, self.obs_clip
            )
        return np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)

    def reward(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> np.ndarray:
        if self.return_rms is None:
            return rewards
        self.returns = self.returns * self.gamma * (1 - terminated) + rewards
        update_running_stats(self.return_rms, self.returns)
        self.returns[terminated | truncated] = 0.0
        return (rewards / np.sqrt(self.return_rms.var + 1e-8)).clip(-self.reward_clip, self.reward_clip)

    def state_dict(self) -> dict:
        return {"obs_rms": self.obs_rms, "return_rms": self.return_rms, "returns": self.returns}

    def load_state_dict(self, state: dict) -> None:
        self.obs_rms, self.return_rms, self.returns = state["obs_rms"], state["return_rms"], state["returns"]
