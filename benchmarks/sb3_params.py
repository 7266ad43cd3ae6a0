"""Our scripts' Args translated into Stable-Baselines3 keyword arguments of the same algorithm.

Only what changes the amount of work per env step is matched (rollout length, minibatches, epochs,
network widths, update and target frequencies, learning starts); a field our script lacks keeps
SB3's default and is named in the returned notes, so the throughput table can say so.
"""

from __future__ import annotations


def _get(args, name, notes, default=None):
    if hasattr(args, name):
        value = getattr(args, name)
        return list(value) if isinstance(value, tuple) else value
    notes.append(f"no {name}")
    return default


def _net(args, notes, default=(64, 64)):
    return list(_get(args, "hidden_sizes", notes, list(default)))


def sb3_hparams(sb3_algo: str, args) -> tuple[dict, list[str]]:
    """``(hparams, notes)`` for ``sb3_job.py --hparams`` from a resolved Args instance."""
    hp, notes = _mlp_hparams(sb3_algo, args)
    if hasattr(args, "noop_max"):  # an Atari script: SB3's CnnPolicy (Nature CNN) on the same env
        hidden = _net(args, notes, (512,))
        hp["policy"] = "CnnPolicy"
        # NatureCNN ends in one dense layer of features_dim units, as our trunk (hidden_sizes (512,))
        hp["policy_kwargs"] = {"net_arch": [], "features_extractor_kwargs": {"features_dim": hidden[-1]}}
        hp["atari"] = {"repeat_action_probability": args.repeat_action_probability, "noop_max": args.noop_max}
        if getattr(args, "terminal_on_life_loss", False):
            notes.append("terminal_on_life_loss on (SB3's run learns from whole games)")
        if "buffer_size" in hp:  # the work per step does not depend on it; 1M frames stacks would not fit
            hp["buffer_size"] = min(hp["buffer_size"], args.total_timesteps)
    return hp, notes


def _mlp_hparams(sb3_algo: str, args) -> tuple[dict, list[str]]:
    notes: list[str] = []
    g = lambda name, default=None: _get(args, name, notes, default)  # noqa: E731
    activation = g("activation", "tanh")
    if sb3_algo in ("PPO", "A2C"):
        hidden = _net(args, notes)
        hp = {
            "n_steps": g("num_steps", 128),
            "learning_rate": g("learning_rate", 3e-4),
            "anneal_lr": g("anneal_lr", False),
            "gamma": g("gamma", 0.99),
            "gae_lambda": g("gae_lambda", 0.95),
            "ent_coef": g("ent_coef", 0.0),
            "vf_coef": g("vf_coef", 0.5),
            "max_grad_norm": g("max_grad_norm", 0.5),
            "normalize_advantage": g("norm_adv", sb3_algo == "PPO"),
            "policy_kwargs": {"net_arch": {"pi": hidden, "vf": hidden}, "activation_fn": activation},
        }
        if sb3_algo == "A2C" and hasattr(args, "optimizer"):
            hp["use_rms_prop"] = args.optimizer == "rmsprop"
        if hasattr(args, "init_log_std"):
            hp["policy_kwargs"]["log_std_init"] = args.init_log_std
        if getattr(args, "norm_obs", False) or getattr(args, "norm_reward", False):
            hp["vec_normalize"] = {
                "norm_obs": bool(getattr(args, "norm_obs", False)),
                "norm_reward": bool(getattr(args, "norm_reward", False)),
                "clip_obs": getattr(args, "obs_clip", 10.0),
                "clip_reward": getattr(args, "reward_clip", 10.0),
                "gamma": hp["gamma"],
            }
        if sb3_algo == "PPO":
            num_envs, num_minibatches = g("num_envs", 1), g("num_minibatches", 4)
            clip = g("clip_coef", 0.2)
            hp.update(
                batch_size=hp["n_steps"] * num_envs // num_minibatches,
                n_epochs=g("update_epochs", 4),
                clip_range=clip,
                clip_range_vf=clip if g("clip_vloss", False) else None,
                target_kl=g("target_kl", None),
            )
        return hp, notes
    if sb3_algo == "DQN":
        start_e, end_e = g("start_e", 1.0), g("end_e", 0.05)
        if getattr(args, "double", False):
            notes.append("Double DQN on (one more forward pass per update; SB3's DQN has no such option)")
        return {
            "learning_rate": g("learning_rate", 1e-4),
            "buffer_size": g("buffer_size", 1_000_000),
            "learning_starts": g("learning_starts", 100),
            "batch_size": g("batch_size", 32),
            "tau": g("tau", 1.0),
            "gamma": g("gamma", 0.99),
            "train_freq": g("train_frequency", 4),
            "gradient_steps": g("gradient_steps", 1),
            "max_grad_norm": g("max_grad_norm", 10.0),
            "target_update_interval": g("target_network_frequency", 10_000),
            "exploration_fraction": g("exploration_fraction", 0.1),
            "exploration_initial_eps": start_e,
            "exploration_final_eps": end_e,
            "policy_kwargs": {"net_arch": _net(args, notes), "activation_fn": activation},
        }, notes
    if sb3_algo == "SAC":
        autotune = g("autotune", True)
        lr = g("policy_lr", None) or g("learning_rate", 3e-4)
        return {
            "learning_rate": lr,
            "buffer_size": g("buffer_size", 1_000_000),
            "learning_starts": g("learning_starts", 100),
            "batch_size": g("batch_size", 256),
            "tau": g("tau", 0.005),
            "gamma": g("gamma", 0.99),
            "target_update_interval": g("target_network_frequency", 1),
            "train_freq": 1,
            "gradient_steps": g("updates_per_step", 1),
            "ent_coef": "auto" if autotune else g("alpha", 0.2),
            "policy_kwargs": {
                "net_arch": _net(args, notes, (256, 256)),
                "activation_fn": g("activation", "relu"),
            },
        }, notes
    raise ValueError(f"no SB3 mapping for {sb3_algo}")
