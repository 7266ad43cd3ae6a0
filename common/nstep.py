"""The n-step window of algos/dqn_per.py (``--n-step``): each env's last n steps, turned into the
m-step transitions a replay buffer stores (Sutton & Barto 2018, eq. 7.1; one of Rainbow's parts).
"""

from __future__ import annotations

import numpy as np


class NStepWindow:
    """Each env's last n steps, turned into m-step transitions (Sutton & Barto 2018, eq. 7.1)

        (s_t, a_t, R = sum_{k<m} gamma^k r_{t+k}, s_{t+m}, terminated_{t+m-1}, m)

    with m = n, or fewer at an episode's end (terminated or truncated), which flushes the window:
    every step of an episode starts one transition, and none spans a reset."""

    def __init__(self, n: int, num_envs: int, obs_shape: tuple, obs_dtype, gamma: float):
        self.n, self.gamma = n, gamma
        self.obs = np.zeros((n, num_envs, *obs_shape), dtype=obs_dtype)  # row n-1 is the newest step
        self.actions = np.zeros((n, num_envs), dtype=np.int64)
        self.rewards = np.zeros((n, num_envs), dtype=np.float32)
        self.length = np.zeros(num_envs, dtype=np.int64)  # steps of the current episode held, <= n

    def push(self, obs, actions, rewards, real_next_obs, terminated, ended):
        """Add one vector step; returns the transitions it completes as arrays for buffer.add."""
        if self.n == 1:  # one-step transitions, as they come (the window's bookkeeping costs ~5% steps/s)
            return [obs, real_next_obs, actions, rewards, terminated, np.ones(len(actions), np.float32)]
        for a, x in ((self.obs, obs), (self.actions, actions), (self.rewards, rewards)):
            a[:-1] = a[1:]
            a[-1] = x
        self.length = np.minimum(self.length + 1, self.n)
        returns = self.rewards.copy()  # returns[p] = sum_{k>=p} gamma^(k-p) r_k, to the newest step
        for p in range(self.n - 2, -1, -1):
            returns[p] += self.gamma * returns[p + 1]
        parts = []
        for p in range(self.n):  # the transition starting at row p takes n - p steps
            emit = (self.length >= self.n - p) & ((p == 0) | ended)
            if emit.any():
                envs = np.flatnonzero(emit)
                columns = (self.obs[p], real_next_obs, self.actions[p], returns[p], terminated)
                parts.append([c[envs] for c in columns] + [np.full(len(envs), self.n - p, np.float32)])
        self.length[ended] = 0
        return [np.concatenate(column) for column in zip(*parts)] if parts else None

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("obs", "actions", "rewards", "length")}

    def load_state_dict(self, state: dict) -> None:
        vars(self).update(state)
