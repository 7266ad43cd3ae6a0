"""Stable-Baselines3's counterpart of one benchmark job; runs in SB3's own venv and appends one line.

    /tmp/sb3/bin/python benchmarks/sb3_job.py --suite throughput --script algos/ppo.py --algo PPO \\
        --env-id CartPole-v1 --num-envs 4 --total-timesteps 50000 --hparams '{"n_steps": 128, ...}'

Throughput: the line's ``sps`` is what counts, and nothing but SB3 runs in the clock. Learning suites
(``--curve``): the line also holds SB3's learning curve, the mean of the last 100 episodic returns
against env steps, one point per vector step in which an episode ended (as our scripts' curve.csv),
thinned as ours to 200 points; ``final_return`` is the same mean at the end.

The hyperparameters arrive already translated from our script's Args (benchmarks/throughput.py):
``learning_rate`` with ``anneal_lr`` (linear to 0, as ours), ``policy_kwargs.net_arch`` and
``policy_kwargs.activation_fn`` ("tanh" / "relu"), ``vec_normalize`` (VecNormalize's arguments), and for
the Atari scripts ``policy`` ("CnnPolicy") and ``atari`` (the env's sticky actions and no-op starts).
Atari rewards reach SB3's learner as sign(r), as ours, after SB3's Monitor took the raw score.
Envs: SB3's DummyVecEnv (sequential, like our SyncVectorEnv). The clock covers ``model.learn`` only, as ours covers the training loop.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.record import append_record, common_fields, thin_curve  # noqa: E402


def curve_callback(curve: list):
    """An SB3 callback that appends ``[env steps, mean of the last 100 episodic returns]`` to ``curve``
    after each vector step in which an episode ended (Monitor's raw ``info["episode"]["r"]``)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class EpisodeCurve(BaseCallback):
        def __init__(self):
            super().__init__()
            self.returns = deque(maxlen=100)

        def _on_step(self) -> bool:
            ended = [info["episode"]["r"] for info in self.locals["infos"] if "episode" in info]
            if ended:
                self.returns.extend(float(r) for r in ended)
                curve.append((self.num_timesteps, sum(self.returns) / len(self.returns)))
            return True

    return EpisodeCurve()


def greedy_returns(model, env_source, trained, episodes: int) -> list[float]:
    """The final policy, deterministic, for ``episodes`` episodes of a fresh env seeded as evaluate.py
    seeds ours (10000), with the observation statistics of ``trained`` (the VecNormalize it learnt in,
    or None) frozen; Monitor's raw returns (Atari: the game score)."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    env = make_vec_env(env_source, n_envs=1, seed=10_000, vec_env_cls=DummyVecEnv)
    if trained is not None:
        env = VecNormalize(
            env, training=False, norm_obs=trained.norm_obs, norm_reward=False, clip_obs=trained.clip_obs
        )
        env.obs_rms = trained.obs_rms
    returns, _ = evaluate_policy(model, env, episodes, deterministic=True, return_episode_rewards=True)
    return [float(r) for r in returns]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="throughput")
    parser.add_argument("--script", required=True, help="our script this run is compared with")
    parser.add_argument("--algo", required=True, choices=["PPO", "A2C", "DQN", "SAC"])
    parser.add_argument("--env-id", required=True)
    parser.add_argument("--num-envs", type=int, default=1)
    parser.add_argument("--total-timesteps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--torch-threads", type=int, default=0, help="0: torch's default, as users run SB3")
    parser.add_argument("--hparams", default="{}", help="JSON keyword arguments of the SB3 algorithm")
    parser.add_argument("--argv", default="[]", help="JSON list: our script's arguments this run matches")
    parser.add_argument("--rep", type=int, default=None)
    parser.add_argument("--results-dir", default=None)
    parser.add_argument("--device", default="cpu", help="SB3's torch device (cpu, cuda)")
    parser.add_argument(
        "--curve", action="store_true", help="record the learning curve (learning suites; off: throughput)"
    )
    parser.add_argument(
        "--eval-episodes", type=int, default=0, help="then the final policy, deterministic, for K episodes"
    )
    opts = parser.parse_args(argv)
    if opts.eval_episodes < 0:
        parser.error(f"--eval-episodes must be 0 (no evaluation) or more, not {opts.eval_episodes}")

    import gymnasium as gym
    import numpy as np
    import stable_baselines3 as sb3
    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, VecEnvWrapper, VecNormalize

    if opts.torch_threads > 0:
        torch.set_num_threads(opts.torch_threads)
    hparams = json.loads(opts.hparams)
    lr = hparams.pop("learning_rate", None)
    if lr is not None:
        hparams["learning_rate"] = (lambda progress: lr * progress) if hparams.pop("anneal_lr", False) else lr
    hparams.pop("anneal_lr", None)
    policy_kwargs = hparams.pop("policy_kwargs", {})
    if "activation_fn" in policy_kwargs:
        policy_kwargs["activation_fn"] = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[
            policy_kwargs["activation_fn"]
        ]
    if opts.env_id.startswith("ALE/"):
        import ale_py

        gym.register_envs(ale_py)

    atari = hparams.pop("atari", None)
    if atari:  # the env of our *_atari.py scripts, frame stack included (channels first: SB3 sees it)

        def make_env():
            env = gym.make(
                opts.env_id, frameskip=1, repeat_action_probability=atari["repeat_action_probability"]
            )
            env = gym.wrappers.AtariPreprocessing(
                env, noop_max=atari["noop_max"], frame_skip=4, screen_size=84
            )
            return gym.wrappers.FrameStackObservation(env, 4)

        class SignReward(VecEnvWrapper):  # after Monitor: the statistics keep the raw score
            def reset(self):
                return self.venv.reset()

            def step_wait(self):
                obs, rewards, dones, infos = self.venv.step_wait()
                return obs, np.sign(rewards), dones, infos

    # The clock starts before the envs are made, as our scripts' clocks do (Run() comes first there):
    # making 16 Atari envs loads 16 ROMs, ~2.4 s here, a tenth of a 10k-step a2c_atari run.
    start = time.perf_counter()
    envs = make_vec_env(
        make_env if atari else opts.env_id, n_envs=opts.num_envs, seed=opts.seed, vec_env_cls=DummyVecEnv
    )
    if atari:
        envs = SignReward(envs)
    normalized = None
    if "vec_normalize" in hparams:  # our continuous scripts normalise observations and rewards
        envs = normalized = VecNormalize(envs, **hparams.pop("vec_normalize"))
    algo = getattr(sb3, opts.algo)
    policy = hparams.pop("policy", "MlpPolicy")
    model = algo(
        policy, envs, policy_kwargs=policy_kwargs, seed=opts.seed, device=opts.device, verbose=0, **hparams
    )
    curve = []
    model.learn(total_timesteps=opts.total_timesteps, callback=curve_callback(curve) if opts.curve else None)
    wall = time.perf_counter() - start
    returns = [ep["r"] for ep in model.ep_info_buffer]
    record = {
        "suite": opts.suite,
        "script": opts.script,
        "measure": "sb3",
        "rep": opts.rep,
        "env_id": opts.env_id,
        "seed": opts.seed,
        "total_timesteps": opts.total_timesteps,
        "global_step": int(model.num_timesteps),
        "final_return": float(np.mean(returns)) if returns else None,
        "wall_s": round(wall, 2),
        "sps": int(model.num_timesteps / wall),
        "clock": "from making the envs",
        "torch_threads": torch.get_num_threads(),
        "device": opts.device,
        "sb3_algo": opts.algo,
        "sb3_hparams": json.loads(opts.hparams),
        "argv": json.loads(opts.argv),
        "num_envs": opts.num_envs,
        **common_fields(),
        "torch": torch.__version__,
        "stable_baselines3": sb3.__version__,
        "run_dir": None,
        "curve_path": None,
        "curve": thin_curve(curve),
    }
    if opts.eval_episodes > 0:  # as run_job.py --eval-episodes does for ours
        played = greedy_returns(model, make_env if atari else opts.env_id, normalized, opts.eval_episodes)
        record.update(eval_return=float(np.mean(played)), eval_returns=played)
    path = append_record(record, opts.suite, opts.results_dir)
    ret = record["final_return"]
    print(
        f"result SB3 {opts.algo} {opts.env_id} seed {opts.seed}: final_return "
        f"{ret if ret is None else round(ret, 2)}, {record['sps']} sps, {record['wall_s']} s -> {path}",
        flush=True,
    )
    return record


if __name__ == "__main__":
    main()
