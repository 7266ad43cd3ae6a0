"""Hand-computed checks of common/returns.py, with a termination and a truncation mid-rollout."""

import torch

from common.returns import discounted_returns, gae, next_values_from, td_targets

G, LAM = 0.9, 0.5


def rollout():
    """One env, 5 steps: episode A ends by truncation at t=1, episode B by termination at t=3.

    V(s_t) = values; V(final obs of A) = 10; V(s_5) after the rollout = 7.
    """
    rewards = torch.tensor([[1.0], [2.0], [3.0], [4.0], [5.0]])
    values = torch.tensor([[0.5], [1.5], [2.5], [3.5], [4.5]])
    terminated = torch.tensor([[False], [False], [False], [True], [False]])
    truncated = torch.tensor([[False], [True], [False], [False], [False]])
    final_values = torch.tensor([[0.0], [10.0], [0.0], [0.0], [0.0]])
    next_values = next_values_from(values, torch.tensor([7.0]), final_values, truncated)
    return rewards, values, next_values, terminated, terminated | truncated


def test_next_values_use_final_observation_after_truncation():
    _, _, next_values, _, _ = rollout()
    # s'_0 = s_1; s'_1 = final obs of A (not the reset obs s_2); ...; s'_4 = the obs after the rollout
    assert next_values.squeeze(1).tolist() == [1.5, 10.0, 3.5, 4.5, 7.0]


def test_gae_by_hand():
    rewards, values, next_values, terminated, dones = rollout()
    adv, ret = gae(rewards, values, next_values, terminated, dones, G, LAM)
    d = [
        1 + G * 1.5 - 0.5,  # inside episode A
        2 + G * 10.0 - 1.5,  # truncated: bootstraps from V(final obs)
        3 + G * 3.5 - 2.5,
        4 + 0.0 - 3.5,  # terminated: no bootstrap
        5 + G * 7.0 - 4.5,  # rollout end: bootstraps from V(s_5)
    ]
    a4 = d[4]
    a3 = d[3]  # done: nothing flows back from the next episode
    a2 = d[2] + G * LAM * a3
    a1 = d[1]  # done (truncated): cut as well
    a0 = d[0] + G * LAM * a1
    expected = torch.tensor([[a0], [a1], [a2], [a3], [a4]])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + values)


def test_gae_lambda_one_equals_discounted_returns():
    rewards, values, next_values, terminated, dones = rollout()
    _, ret = gae(rewards, values, next_values, terminated, dones, G, 1.0)
    mc = discounted_returns(rewards, next_values, terminated, dones, G)
    torch.testing.assert_close(ret, mc)
    expected = [1 + G * (2 + G * 10.0), 2 + G * 10.0, 3 + G * 4, 4.0, 5 + G * 7.0]
    torch.testing.assert_close(mc.squeeze(1), torch.tensor(expected))


def test_gae_lambda_zero_equals_td_targets():
    rewards, values, next_values, terminated, dones = rollout()
    _, ret = gae(rewards, values, next_values, terminated, dones, G, 0.0)
    torch.testing.assert_close(ret, td_targets(rewards, next_values, terminated, G))


def test_envs_are_independent():
    """Columns never mix: a batch of shuffled single-env rollouts equals each one computed alone."""
    gen = torch.Generator().manual_seed(0)
    T, N = 32, 6
    rewards, values, next_values = (torch.randn(T, N, generator=gen) for _ in range(3))
    terminated = torch.rand(T, N, generator=gen) < 0.1
    dones = terminated | (torch.rand(T, N, generator=gen) < 0.1)
    adv, _ = gae(rewards, values, next_values, terminated, dones, 0.99, 0.95)
    for n in range(N):
        cols = (x[:, n : n + 1] for x in (rewards, values, next_values, terminated, dones))
        r, v, nv, term, d = cols
        torch.testing.assert_close(adv[:, n : n + 1], gae(r, v, nv, term, d, 0.99, 0.95)[0])
