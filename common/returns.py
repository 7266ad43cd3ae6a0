"""Returns and targets with the terminated / truncated rule built in.

Every function takes rollouts laid out as ``(T, N)`` tensors: T time steps of N parallel envs.
Transition ``t`` of env ``n`` is ``(s_t, a_t, r_t, s'_t)`` and comes with

- ``terminated[t]``: the episode really ended at ``s'_t`` (a terminal state): its value is 0;
- ``dones[t]``: the episode ended at ``s'_t`` for any reason (``terminated | truncated``); the next
  row of the rollout belongs to a new episode, so nothing may flow backwards across it;
- ``next_values[t]``: ``V(s'_t)`` for the *true* next state. For a truncated transition that is the
  value of the final observation the env returned before its reset (``info["final_obs"]``), not of
  the reset observation; for a terminated one it is ignored. Build it with :func:`next_values_from`.

With these three, time-limit truncation bootstraps (Pardo et al. 2018, "Time Limits in RL") and a
reset never leaks values from one episode into another.
"""

from __future__ import annotations

import torch

__all__ = ["discounted_returns", "gae", "next_values_from", "td_targets"]


def next_values_from(
    values: torch.Tensor, last_values: torch.Tensor, final_values: torch.Tensor, truncated: torch.Tensor
) -> torch.Tensor:
    """``V(s'_t)`` for every transition of a rollout.

    values: (T, N) ``V(s_t)``; last_values: (N,) ``V(s_T)``, the observation after the rollout;
    final_values: (T, N) ``V(final_obs)`` where ``truncated`` (any value elsewhere);
    truncated: (T, N) bool. With SAME_STEP autoreset ``s_{t+1}`` is the next row's observation,
    except after an episode end, where it is the reset observation: truncated rows take the value
    of the final observation instead, terminated rows are masked by the caller's ``terminated``.
    """
    next_values = torch.cat([values[1:], last_values.unsqueeze(0)])
    return torch.where(truncated, final_values, next_values)


def td_targets(
    rewards: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor, gamma: float
) -> torch.Tensor:
    """One-step TD target ``y = r + gamma * (1 - terminated) * V(s')`` (any shape)."""
    return rewards + gamma * (1.0 - terminated.float()) * next_values


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016), shapes (T, N).

        delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)
        A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   A_T = 0

    Returns ``(advantages, returns)`` with ``returns = advantages + values`` (the lambda-return,
    the critic's regression target). ``gae_lambda=1`` gives Monte-Carlo returns bootstrapped at
    the rollout's end and at truncations; ``gae_lambda=0`` gives one-step TD advantages.
    """
    not_terminated = 1.0 - terminated.float()
    continues = gamma * gae_lambda * (1.0 - dones.float())
    deltas = rewards + gamma * not_terminated * next_values - values
    advantages = torch.empty_like(deltas)
    running = torch.zeros_like(deltas[0])
    for t in range(deltas.shape[0] - 1, -1, -1):
        running = deltas[t] + continues[t] * running
        advantages[t] = running
    return advantages, advantages + values


def discounted_returns(
    rewards: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """Discounted returns to the end of each episode or of the rollout, shapes (T, N).

        G_t = r_t + gamma * (1 - terminated_t) * (V(s'_t) if done_t or t = T-1 else G_{t+1})

    With whole episodes and ``terminated == dones`` this is the Monte-Carlo return of REINFORCE;
    ``next_values`` then only matters where an episode was truncated or the rollout cut (pass
    zeros when there is no critic: the return is then the sum of the rewards seen).
    """
    not_terminated = 1.0 - terminated.float()
    dones = dones.bool()
    returns = torch.empty_like(rewards)
    following = next_values[-1]
    for t in range(rewards.shape[0] - 1, -1, -1):
        following = torch.where(dones[t], next_values[t], following)
        following = rewards[t] + gamma * not_terminated[t] * following
        returns[t] = following
    return returns
