"""common/replay.py (the frame replay of dqn_atari.py and sac_atari.py) rebuilds exactly the stacks
the env returned. The env is common/atari.py's gymnasium engine (tests/test_atari_engines.py: the same frames as the native one)."""

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

from types import SimpleNamespace  # noqa: E402

import gymnasium as gym  # noqa: E402

from common.atari import ale_kwargs, preprocess  # noqa: E402
from common.envs import check_env_id  # noqa: E402
from common.replay import FrameReplayBuffer  # noqa: E402


def test_frame_replay_matches_env_stacks(num_envs=2, slots=90, steps=700, seed=3):
    """Random-action Breakout in 2 envs (env 0 also truncated every 60 steps), a ring of 90 slots
    per env (it wraps ~8 times), resets in both envs. Every transition the env produced is kept
    (obs and the real next obs: info["final_obs"] where the episode ended) under the slot the
    buffer wrote it to; every sampleable slot and a large sample must rebuild those stacks."""
    check_env_id("ALE/Breakout-v5")
    args = SimpleNamespace(env_id="ALE/Breakout-v5", noop_max=30, repeat_action_probability=0.25)

    def make(i):
        def thunk():
            env = preprocess(gym.make(args.env_id, **ale_kwargs(args)), args)
            return gym.wrappers.TimeLimit(env, 60) if i == 0 else env

        return thunk

    envs = gym.vector.SyncVectorEnv(
        [make(i) for i in range(num_envs)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    buffer = FrameReplayBuffer(num_envs * slots, num_envs, envs.single_observation_space.shape, "cpu")
    truth = {}
    obs, _ = envs.reset(seed=seed)
    buffer.start(obs)
    rng = np.random.default_rng(seed)
    ends = {"terminated": 0, "truncated": 0}
    for _ in range(steps):
        actions = rng.integers(0, envs.single_action_space.n, num_envs)
        slots_before = buffer.pos.copy()
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        ended = terminated | truncated
        ends["terminated"] += int(terminated.sum())
        ends["truncated"] += int(truncated.sum())
        buffer.add(actions, rewards, terminated, next_obs, ended, info.get("final_obs"))
        for e in range(num_envs):
            real_next = info["final_obs"][e] if ended[e] else next_obs[e]
            truth[e * buffer.slots + slots_before[e]] = (
                obs[e].copy(),
                real_next.copy(),
                actions[e],
                terminated[e],
            )
        obs = next_obs
    envs.close()
    assert ends["terminated"] >= 1 and ends["truncated"] >= 4, ends
    assert buffer.filled.min() == slots  # wrapped around

    def check(indices):
        b_obs, b_actions, _, b_next_obs, b_terminated = buffer.get(indices)
        assert b_obs.dtype == torch.uint8 and b_obs.shape == (len(indices), 4, 84, 84)
        for k, i in enumerate(indices):
            o, o2, a, term = truth[int(i)]
            assert np.array_equal(b_obs[k].numpy(), o), f"obs of slot {i}"
            assert np.array_equal(b_next_obs[k].numpy(), o2), f"next_obs of slot {i}"
            assert b_actions[k] == a and b_terminated[k] == term

    valid = np.flatnonzero(buffer.valid.ravel())
    assert len(valid) > 0.85 * num_envs * slots
    check(valid)
    sampled = buffer.sample_indices(2000, rng)
    assert buffer.valid.ravel()[sampled].all()
    check(sampled)
    # Episode starts and the slots just ahead of the write heads are never sampleable.
    assert not buffer.valid[np.arange(num_envs), buffer.pos].any()
    # --checkpoint-buffer: a buffer rebuilt from its state_dict gives the same transitions.
    restored = FrameReplayBuffer(num_envs * slots, num_envs, envs.single_observation_space.shape, "cpu")
    restored.load_state_dict(buffer.state_dict())
    for a, b in zip(buffer.get(valid), restored.get(valid)):
        assert torch.equal(a, b)
    assert np.array_equal(restored.pos, buffer.pos) and np.array_equal(restored.valid, buffer.valid)
