"""Stable-Baselines3's counterpart of one throughput job; runs in SB3's own venv and appends one line.

    /tmp/sb3/bin/python benchmarks/sb3_job.py --suite throughput --script algos/ppo.py --algo PPO \\
        --env-id CartPole-v1 --num-envs 4 --total-timesteps 50000 --hparams '{"n_steps": 128, ...}'

The hyperparameters arrive already translated from our script's Args (benchmarks/throughput.py):
``learning_rate`` with ``anneal_lr`` (linear to 0, as ours), ``policy_kwargs.net_arch`` and
``policy_kwargs.activation_fn`` ("tanh" / "relu"), ``vec_normalize`` (VecNormalize's arguments), and for
the Atari scripts ``policy`` ("CnnPolicy") and ``atari`` (the env's sticky actions and no-op starts).
Envs: SB3's DummyVecEnv (sequential, like our SyncVectorEnv). The clock covers ``model.learn`` only, as ours covers the training loop.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.record import append_record, common_fields  # noqa: E402


def main() -> None:
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
    opts = parser.parse_args()

    import gymnasium as gym
    import numpy as np
    import stable_baselines3 as sb3
    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

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

    # The clock starts before the envs are made, as our scripts' clocks do (Run() comes first there):
    # making 16 Atari envs loads 16 ROMs, ~2.4 s here, a tenth of a 10k-step a2c_atari run.
    start = time.perf_counter()
    envs = make_vec_env(
        make_env if atari else opts.env_id, n_envs=opts.num_envs, seed=opts.seed, vec_env_cls=DummyVecEnv
    )
    if "vec_normalize" in hparams:  # our continuous scripts normalise observations and rewards
        envs = VecNormalize(envs, **hparams.pop("vec_normalize"))
    algo = getattr(sb3, opts.algo)
    policy = hparams.pop("policy", "MlpPolicy")
    model = algo(
        policy, envs, policy_kwargs=policy_kwargs, seed=opts.seed, device="cpu", verbose=0, **hparams
    )
    model.learn(total_timesteps=opts.total_timesteps)
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
        "device": "cpu",
        "sb3_algo": opts.algo,
        "sb3_hparams": json.loads(opts.hparams),
        "argv": json.loads(opts.argv),
        "num_envs": opts.num_envs,
        **common_fields(),
        "torch": torch.__version__,
        "stable_baselines3": sb3.__version__,
        "run_dir": None,
        "curve_path": None,
        "curve": [],
    }
    path = append_record(record, opts.suite, opts.results_dir)
    print(
        f"result SB3 {opts.algo} {opts.env_id}: {record['sps']} sps, {record['wall_s']} s -> {path}",
        flush=True,
    )


if __name__ == "__main__":
    main()
