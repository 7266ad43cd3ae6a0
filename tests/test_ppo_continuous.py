"""algos/ppo_continuous.py and algos/a2c_continuous.py: truncation bootstraps from V(final obs) with
the normalisation the critic saw, they learn Pendulum, run as a user runs them (MuJoCo Hopper-v5),
keep their normalisation statistics in checkpoints and refuse bad input in one line."""

import glob
import importlib

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, run_script
from gymnasium.wrappers.utils import RunningMeanStd

from common import evaluation

SCRIPTS = ["ppo_continuous", "a2c_continuous"]


class Ticker(gym.Env):
    """obs = [t]: the step count since the reset; reward 1; never terminates, a TimeLimit truncates."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([self.t], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], np.float32), 1.0, False, False, {}


TICKER = "FdrlTicker-v0"
if TICKER not in gym.registry:
    gym.register(TICKER, entry_point=Ticker, max_episode_steps=3)


def normalised(raw_obs_seen):
    """What a fresh NormalizeObservation returns for the last of ``raw_obs_seen``."""
    rms = RunningMeanStd(shape=(1,), dtype=np.float32)
    for x in raw_obs_seen:
        rms.update(np.array([[x]], np.float32))
    return np.float32((raw_obs_seen[-1] - rms.mean) / np.sqrt(rms.var + 1e-8))


def test_normalizer_matches_gymnasium_wrappers():
    """ppo_continuous normalises once per vector step (``common.normalize.Normalize``): on Pendulum-v1
    (one env, truncated every 200 steps) its observations, final observations and scaled rewards are
    those of the Gymnasium wrappers it replaced (per-env NormalizeObservation + clip, vector
    NormalizeReward + clip), the final observation normalised with the statistics of the observations
    before it."""
    from algos.ppo_continuous import Args
    from common.normalize import Normalize

    args = Args(env_id="Pendulum-v1", num_envs=1)

    def wrapped():
        env = gym.wrappers.NormalizeObservation(gym.make(args.env_id))
        return gym.wrappers.TransformObservation(env, lambda o: np.clip(o, -10, 10), env.observation_space)

    same_step = gym.vector.AutoresetMode.SAME_STEP
    ref = gym.vector.SyncVectorEnv([wrapped], autoreset_mode=same_step)
    ref = gym.wrappers.vector.NormalizeReward(gym.wrappers.vector.RecordEpisodeStatistics(ref), args.gamma)
    ref = gym.wrappers.vector.TransformReward(ref, lambda r: np.clip(r, -10, 10))
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(args.env_id)], autoreset_mode=same_step)
    envs = Normalize(gym.wrappers.vector.RecordEpisodeStatistics(envs), args)
    ref_obs, _ = ref.reset(seed=3)
    np.testing.assert_allclose(envs.reset(seed=3)[0], ref_obs, rtol=1e-5, atol=1e-6)
    actions = np.random.default_rng(0).uniform(-2, 2, (450, 1, 1)).astype(np.float32)
    truncations = 0
    for action in actions:
        ref_obs, ref_rewards, _, _, ref_info = ref.step(action)
        obs, rewards, _, trunc, info = envs.step(action)
        if trunc.any():
            truncations += 1
            np.testing.assert_allclose(
                np.stack(info["final_obs"][trunc]),
                np.stack(ref_info["final_obs"][trunc]),
                rtol=1e-5,
                atol=1e-6,
            )
        np.testing.assert_allclose(obs, ref_obs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rewards, ref_rewards, rtol=1e-6)
    assert truncations == 2
    envs.close()
    ref.close()


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_numpy_actor_is_the_actor(activation):
    """The rollout's numpy copy of the actor computes what the torch actor computes (a new copy after
    the weights change)."""
    from algos.ppo_continuous import Agent, Args, numpy_actor

    torch.manual_seed(0)
    agent = Agent(5, 2, Args(activation=activation, hidden_sizes=(16, 8)))
    obs = torch.randn(7, 5)
    for _ in range(2):
        with torch.no_grad():
            expected = agent.actor_mean(obs).numpy()
        actor = numpy_actor(agent.actor_mean, activation)
        np.testing.assert_allclose(actor(obs.numpy()), expected, rtol=1e-5, atol=1e-6)
        with torch.no_grad():
            for param in agent.actor_mean.parameters():
                param.add_(0.1 * torch.randn_like(param))


@pytest.mark.parametrize("script", SCRIPTS)
def test_gae_across_truncation_uses_final_obs_value(script, runs_dir, monkeypatch):
    """A real rollout on Ticker (truncated every 3 steps): the script bootstraps the truncated step from
    V(normalised final observation), so its advantage is r + gamma * V(final obs) - V(s), not
    r + gamma * V(reset obs) - V(s), nor r - V(s); the reset observation is normalised after it."""
    module = importlib.import_module(f"algos.{script}")
    seen, agents = {}, []
    real_gae, real_next_values = module.gae, module.next_values_from

    class Agent(module.Agent):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            agents.append(self)

    def next_values_spy(values, last_values, final_values, truncated):
        seen.setdefault("final_values", final_values.clone())
        return real_next_values(values, last_values, final_values, truncated)

    def gae_spy(rewards, values, next_values, terminated, dones, gamma, gae_lambda):
        advantages, returns = real_gae(rewards, values, next_values, terminated, dones, gamma, gae_lambda)
        if "advantages" not in seen:
            with torch.no_grad():  # V of the observations the test expects, before the update
                v = lambda raw: agents[0].critic(torch.as_tensor(normalised(raw)).view(1, 1)).item()  # noqa: E731
                seen.update(v_final=v([0, 1, 2, 3]), v_reset=v([0, 1, 2, 3, 0]))
            seen.update(rewards=rewards, values=values, terminated=terminated, truncated=dones & ~terminated)
            seen.update(advantages=advantages)
        return advantages, returns

    monkeypatch.setattr(module, "Agent", Agent)
    monkeypatch.setattr(module, "next_values_from", next_values_spy)
    monkeypatch.setattr(module, "gae", gae_spy)
    extra = {"num_minibatches": 1, "update_epochs": 1} if script == "ppo_continuous" else {}
    args = module.Args(
        env_id=TICKER, num_envs=1, num_steps=5, total_timesteps=5, gae_lambda=0.9, runs_dir=runs_dir, **extra
    )
    module.train(args)

    rewards, advantages, v_obs = seen["rewards"], seen["advantages"][:, 0], seen["values"][:, 0]
    assert seen["truncated"][:, 0].tolist() == [False, False, True, False, False]
    assert not seen["terminated"].any()
    # The rollout's observations are t = 0, 1, 2, (reset) 0, 1; the truncated step's final one is t = 3.
    np.testing.assert_allclose(seen["final_values"][2, 0].item(), seen["v_final"], rtol=1e-5)
    np.testing.assert_allclose(v_obs[3].item(), seen["v_reset"], rtol=1e-5)
    v_final, gamma, r = seen["final_values"][2, 0], args.gamma, rewards[2, 0]
    expected = r + gamma * v_final - v_obs[2]
    torch.testing.assert_close(advantages[2], expected)
    assert abs(expected - (r + gamma * v_obs[3] - v_obs[2])) > 1e-4
    assert abs(expected - (r - v_obs[2])) > 1e-4
    # Nothing flows back across the reset: A_1 = delta_1 + gamma * lambda * A_2.
    delta_1 = rewards[1, 0] + gamma * v_obs[2] - v_obs[1]
    torch.testing.assert_close(advantages[1], delta_1 + gamma * 0.9 * advantages[2])


class Target(gym.Env):
    """One-step episodes: obs = a target x ~ U(-1, 1), reward -(a - x)^2. A random Gaussian policy
    scores about -1.33; a policy that learned a ~ x scores close to 0. A CI-sized learning check."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.target = self.np_random.uniform(-1, 1, (1,)).astype(np.float32)
        return self.target.copy(), {}

    def step(self, action):
        return self.target.copy(), float(-((action - self.target) ** 2).sum()), True, False, {}


TARGET = "FdrlTarget-v0"
if TARGET not in gym.registry:
    gym.register(TARGET, entry_point=Target)


def test_ppo_continuous_learns_target(runs_dir):
    """CI-sized: Target, seed 1, 8192 steps (512-step rollouts, one minibatch, lr 3e-3): the mean
    return of the last 100 episodes is >= -0.8 (random policy: -1.33). Measured: -0.51, ~20 s on the
    loaded shared machine. The Pendulum bar is the slow test below."""
    from algos.ppo_continuous import Args, train

    args = Args(
        env_id=TARGET,
        seed=1,
        total_timesteps=8192,
        num_steps=512,
        num_minibatches=1,
        learning_rate=3e-3,
        runs_dir=runs_dir,
    )
    assert train(args)["final_return"] >= -0.8


def test_a2c_continuous_learns_target(runs_dir):
    """CI-sized: Target, seed 1, 16384 steps of the defaults: mean return of the last 100 episodes
    >= -0.8 (random policy: -1.33). Measured: -0.56, ~30 s on the loaded shared machine."""
    from algos.a2c_continuous import Args, train

    assert (
        train(Args(env_id=TARGET, seed=1, total_timesteps=16384, runs_dir=runs_dir))["final_return"] >= -0.8
    )


def test_ppo_continuous_learns_pendulum(runs_dir):
    """Pendulum-v1, seed 1, 61,440 steps, 1 env x 512 steps, 8 minibatches, gamma 0.95, GAE lambda 0.1,
    relu: mean of the last 100 episodes >= -400 (the issue's bar).

    Measured on the 2-core machine: -245.5 in 32 s (with two other runs beside it). The same config
    run to 150k steps: -400 at ~40k, -178 at 61k, -149 at 150k. With the Hopper defaults (gamma 0.99,
    lambda 0.95) PPO plateaus near -600 here: Pendulum wants short-horizon credit assignment. The
    benchmark's Pendulum override rolls out 4 envs x 128 steps instead (-161.9, 4 seeds at 300k; the
    1 x 512 rollout of this test gave -181 there, one seed at -258)."""
    from algos.ppo_continuous import Args, train

    args = Args(
        env_id="Pendulum-v1",
        seed=1,
        total_timesteps=61_440,
        num_envs=1,
        num_steps=512,
        num_minibatches=8,
        gamma=0.95,
        gae_lambda=0.1,
        activation="relu",
        runs_dir=runs_dir,
    )
    summary = train(args)
    assert summary["final_return"] >= -400, summary


def test_a2c_continuous_learns_pendulum(runs_dir):
    """CI-sized: Pendulum-v1, seed 2, 122,880 steps of the classic suite's settings but lr 1e-3 (8 envs
    x 8 steps, Adam annealed, normalised advantages, gamma 0.95, GAE 0.95, initial log-std -1, relu, no
    observation normalisation): mean of the last 100 episodes >= -400 (the issue's bar).

    Measured on the shared 2-core machine: -233 in 24 s (seed 1: -357; the suite's lr 2e-3: -311,
    seed 1 -235). At 300k steps, seeds 1-4: -205, -190, -258, -212 (2e-3: -162, -177, -182, -176). With per-env observation normalisation (the Hopper default) the
    same settings end at -284 (seed 1) and -730 (seed 2) at 300k; RL Zoo's settings (RMSprop 7e-4,
    gamma 0.9, GAE 0.9, raw advantages, log-std -2) stay at -1050..-1230 at 150k-300k."""
    from algos.a2c_continuous import Args, train

    args = Args(
        env_id="Pendulum-v1",
        seed=2,
        total_timesteps=122_880,
        num_steps=8,
        optimizer="adam",
        learning_rate=1e-3,
        norm_adv=True,
        gamma=0.95,
        init_log_std=-1.0,
        activation="relu",
        norm_obs=False,
        runs_dir=runs_dir,
    )
    summary = train(args)
    assert summary["final_return"] >= -400, summary


def test_ppo_continuous_cli_hopper(tmp_path):
    """`python algos/ppo_continuous.py` on MuJoCo Hopper-v5 for 512 steps: TensorBoard events with the
    args.json, curve.csv and a checkpoint holding the normalisation statistics; resuming from it on
    MuJoCo (no exact env state) restores those statistics."""
    out = run_script(
        "ppo_continuous.py",
        *("--total-timesteps", "512", "--num-steps", "256", "--num-minibatches", "4", "--update-epochs", "2"),
        *("--runs-dir", str(tmp_path), "--save-model"),
    )
    assert out.returncode == 0, out.stderr
    (run_dir,) = glob.glob(str(tmp_path / "Hopper-v5__ppo_continuous__1__*"))
    (events,) = glob.glob(f"{run_dir}/events.out.tfevents.*")
    assert glob.glob(f"{run_dir}/args.json") and glob.glob(f"{run_dir}/curve.csv")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = EventAccumulator(events).Reload().Tags()["scalars"]
    for tag in ("charts/SPS", "losses/value_loss"):
        assert tag in tags, tags

    from common.checkpoints import load_checkpoint

    ckpt = f"{run_dir}/checkpoints/latest.pt"
    saved = load_checkpoint(ckpt)
    assert saved["envs"] is None  # MuJoCo: no exact env state
    obs_rms, return_rms = saved["norm_stats"]["obs_rms"], saved["norm_stats"]["return_rms"]
    assert obs_rms.count > 500 and return_rms.count > 500

    from algos.ppo_continuous import Args, train

    args = Args(
        total_timesteps=512,
        num_steps=256,
        num_minibatches=4,
        resume=ckpt,
        save_model=True,
        runs_dir=str(tmp_path),
    )
    train(args)  # nothing left to train: restores, resets the envs once, saves
    again = load_checkpoint(ckpt)["norm_stats"]
    assert again["obs_rms"].count == obs_rms.count + 1  # + the reset observation
    np.testing.assert_allclose(again["return_rms"].var, return_rms.var)


def test_a2c_continuous_resume_keeps_wrapper_stats(runs_dir):
    """a2c_continuous on MuJoCo Hopper-v5 (no exact env state), 2 envs: the checkpoint holds the shared
    observation and reward statistics of ``Normalize``, and a resumed run starts new episodes with them."""
    from algos.a2c_continuous import Args, train
    from common.checkpoints import load_checkpoint

    args = Args(num_envs=2, num_steps=64, total_timesteps=256, save_model=True, runs_dir=runs_dir)
    ckpt = f"{train(args)['run_dir']}/checkpoints/latest.pt"
    saved = load_checkpoint(ckpt)
    assert saved["envs"] is None
    obs_rms, return_rms = saved["norm_stats"]["obs_rms"], saved["norm_stats"]["return_rms"]
    assert obs_rms.count > 256 and return_rms.count > 128
    train(
        Args(num_envs=2, num_steps=64, total_timesteps=256, resume=ckpt, save_model=True, runs_dir=runs_dir)
    )
    again = load_checkpoint(ckpt)["norm_stats"]
    assert again["obs_rms"].count == obs_rms.count + 2  # + the 2 envs' reset observations
    np.testing.assert_allclose(again["return_rms"].var, return_rms.var)


def test_a2c_continuous_cli_smoke(tmp_path):
    out = run_script(
        "a2c_continuous.py",
        "--env-id",
        "Pendulum-v1",
        "--total-timesteps",
        "1024",
        "--runs-dir",
        str(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    (run_dir,) = glob.glob(str(tmp_path / "Pendulum-v1__a2c_continuous__1__*"))
    assert glob.glob(f"{run_dir}/events.out.tfevents.*") and glob.glob(f"{run_dir}/curve.csv")


@pytest.mark.parametrize("script", SCRIPTS)
def test_continuous_evaluate(script, runs_dir):
    """evaluate() plays a saved agent with the frozen observation statistics of training."""
    module = importlib.import_module(f"algos.{script}")
    extra = {"num_steps": 256, "num_minibatches": 4} if script == "ppo_continuous" else {}
    summary = module.train(
        module.Args(env_id="Pendulum-v1", total_timesteps=512, save_model=True, runs_dir=runs_dir, **extra)
    )
    result = evaluation.evaluate(f"{summary['run_dir']}/checkpoints/latest.pt", episodes=2)
    assert len(result["returns"]) == 2 and np.isfinite(result["mean"])


@pytest.mark.parametrize("script", SCRIPTS)
def test_continuous_bad_input(script, tmp_path, capsys):
    """One line on stderr and exit 2, before any run folder exists (in-process: the CLI smoke tests
    cover the command line itself)."""
    module = importlib.import_module(f"algos.{script}")
    discrete = "ppo.py" if script == "ppo_continuous" else "a2c.py"
    cases = [
        ({"env_id": "Pendulm-v1"}, "unknown env id 'Pendulm-v1' (did you mean Pendulum-v1"),
        ({"env_id": "CartPole-v1"}, f"CartPole-v1 has a Discrete(2) action space: use algos/{discrete}"),
    ]
    if script == "ppo_continuous":
        cases.append(({"num_minibatches": 3}, "--num-minibatches 3 does not divide the batch"))
    for kwargs, expected in cases:
        with pytest.raises(SystemExit) as exit_info:
            module.train(module.Args(runs_dir=str(tmp_path), **kwargs))
        assert exit_info.value.code == 2
        assert_one_line_error(capsys.readouterr().err, expected)
    assert not list(tmp_path.iterdir())  # refused before any run folder was made
