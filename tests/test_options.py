"""The on-policy scripts' options beyond their defaults (value-target transforms, layer norm, other
optimizers and return estimators): a short run of each combination trains and ends finite."""

import importlib

import pytest

TRANSFORMS = {"normalize_v_targets": True, "symlog_transform": True, "layer_norm": True}
SMALL = {"hidden_sizes": (32,), "activation": "relu"}
PENDULUM = {"env_id": "Pendulum-v1", "total_timesteps": 1024}
OPTIONS = {
    "ppo": {**SMALL, "total_timesteps": 2048, "clip_vloss": True, "target_kl": 0.01},
    # Adam, n-step returns (gae_lambda 1), normalised advantages
    "a2c": {**SMALL, "total_timesteps": 1024, "optimizer": "adam", "gae_lambda": 1.0, "norm_adv": True},
    # no normalisation wrappers
    "ppo_continuous": {
        **SMALL,
        **PENDULUM,
        "num_steps": 512,
        "num_minibatches": 4,
        "clip_vloss": False,
        "target_kl": 0.01,
        "norm_obs": False,
        "norm_reward": False,
    },
    "a2c_continuous": {**PENDULUM, "optimizer": "adam", "gae_lambda": 1.0, "norm_adv": True},
}


@pytest.mark.parametrize("script", OPTIONS)
def test_options_run(script, runs_dir):
    module = importlib.import_module(f"algos.{script}")
    summary = module.train(module.Args(**TRANSFORMS, **OPTIONS[script], runs_dir=runs_dir))
    assert summary["global_step"] == OPTIONS[script]["total_timesteps"]
