"""algos/*_atari.py learn from pixels: each script trains on ``CueEnv``, a pixel task with the Atari
observation (4 x 84 x 84 uint8 stacks) that the Nature CNN learns in seconds, through the script's
own ``make_envs`` (replaced here) and ``train()``; the last mean return must be near the optimum.

A change that breaks the CNN's learning (frames scaled wrongly or lost before the network, a
detached target, a mis-indexed action, stacks rebuilt from the wrong frames) fails here, where
test_atari.py's smoke runs would still pass (checked: pairing each observation with another
sample's action in dqn_atari's loss ends at -0.52, zeroing ppo_atari's frames at -0.16).

Measured on the 2-core CPU while other jobs kept its load average at ~15: wall 43 s (ppo_atari),
38 s (dqn_atari), 35 s (sac_atari), 11 s (a2c_atari); 39 s of CPU time for the whole file."""

import importlib

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("ale_py")  # the scripts check their ALE env id before make_envs

STEPS = 3  # decisions per episode: optimum +3, a random or pixel-blind policy 0 on average


class CueEnv(gym.Env):
    """One 84x84 uint8 frame: the left or the right half is bright, at random. Action 0 pays +1 when
    the left half is bright, action 1 when the right half is; the wrong one pays -1. Terminates after
    ``STEPS`` decisions, a new cue at each. Only the pixels tell the right action: any policy that
    ignores them (random, constant) scores 0 on average, the optimum is ``STEPS``. ``info["lives"]``
    is there because the Atari scripts read it."""

    observation_space = gym.spaces.Box(0, 255, (84, 84), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def _frame(self) -> np.ndarray:
        self.cue = int(self.np_random.integers(2))
        frame = np.zeros((84, 84), np.uint8)
        frame[:, 42 * self.cue : 42 * (self.cue + 1)] = 255
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._frame(), {"lives": 1}

    def step(self, action):
        reward = 1.0 if int(action) == self.cue else -1.0
        self.t += 1
        return self._frame(), reward, self.t == STEPS, False, {"lives": 1}


def make_cue_envs(args, video_dir: str) -> gym.vector.VectorEnv:
    """The scripts' ``make_envs`` with ``CueEnv`` for the game: the same frame stack, SAME_STEP
    autoreset, statistics and sign(r)."""
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.wrappers.FrameStackObservation(CueEnv(), 4)] * args.num_envs,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    return gym.wrappers.vector.TransformReward(envs, np.sign)


def test_cue_env_needs_the_pixels():
    """Random and constant actions score ~0 per episode; reading the bright half scores STEPS."""
    envs = make_cue_envs(type("A", (), {"num_envs": 4}), "")
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (4, 4, 84, 84) and obs.dtype == np.uint8
    rng = np.random.default_rng(0)
    policies = {
        "random": lambda obs: rng.integers(0, 2, len(obs)),
        "constant": lambda obs: np.zeros(len(obs), np.int64),
        "reads the pixels": lambda obs: (obs[:, -1, :, 42:].mean((1, 2)) > 127).astype(np.int64),
    }
    means = {}
    for name, policy in policies.items():
        returns = []
        while len(returns) < 400:
            obs, _, _, _, info = envs.step(policy(obs))
            if "episode" in info:
                returns += list(info["episode"]["r"][info["_episode"]])
        means[name] = np.mean(returns)
    envs.close()
    assert abs(means["random"]) < 0.3 and abs(means["constant"]) < 0.3, means
    assert means["reads the pixels"] == STEPS, means


# Small settings that learn CueEnv in a few thousand steps; everything else is the script's default.
SETTINGS = {
    "ppo_atari": {
        **{"num_envs": 8, "num_steps": 32, "num_minibatches": 2, "learning_rate": 1e-3},
        "total_timesteps": 2048,
    },
    "a2c_atari": {"num_envs": 16, "num_steps": 5, "total_timesteps": 2000},
    "dqn_atari": {
        **{"total_timesteps": 1000, "buffer_size": 1000, "learning_starts": 200, "batch_size": 16},
        **{"train_frequency": 4, "target_network_frequency": 100, "exploration_fraction": 0.3},
    },
    "sac_atari": {
        **{"total_timesteps": 800, "buffer_size": 800, "learning_starts": 160, "batch_size": 16},
        **{"update_frequency": 8, "target_network_frequency": 100, "q_lr": 1e-3, "policy_lr": 1e-3},
        "target_entropy_scale": 0.2,  # the default 0.89 * log 2 keeps pi near uniform on 2 actions
    },
}


@pytest.mark.parametrize("script", list(SETTINGS))
def test_atari_script_learns_from_pixels(script, runs_dir, monkeypatch):
    """The last mean return of ``train()`` on CueEnv is near the optimum (STEPS) and far above what
    ignoring the pixels scores (0)."""
    module = importlib.import_module(f"algos.{script}")
    monkeypatch.setattr(module, "make_envs", make_cue_envs)
    args = module.Args(env_id="ALE/Pong-v5", runs_dir=runs_dir, **SETTINGS[script])
    summary = module.train(args)
    assert summary["final_return"] >= 0.8 * STEPS, summary
