"""Benchmark suites as data: which script runs on which env for how many env steps.

A suite is a list of entries ``{"env_id", "family", "budgets": {script: total_timesteps}}`` where a
budget is the number of env steps at ``--scale 1.0`` (SLM-Lab's "frames" = agent steps), plus
optional per-script ``overrides`` ({Args field: value}; fields a script lacks are skipped with a
note). Scripts are named, never imported here: the runner skips a script whose file does not exist
yet, so the suites work as scripts land. This module holds data only (no imports of ours); the
measurements behind each override are in benchmarks/notes.md ("Suite overrides").
"""

DISCRETE = ["reinforce", "sarsa", "dqn", "dqn_per", "a2c", "ppo", "sac_discrete"]
CONTINUOUS = ["a2c_continuous", "ppo_continuous", "sac_continuous"]
ATARI = ["ppo_atari", "a2c_atari", "dqn_atari", "sac_atari"]
ALL_SCRIPTS = DISCRETE + CONTINUOUS + ATARI

# The algorithm each script implements: the key of the peers' columns in reference_scores.json.
ALGORITHM = {
    "reinforce": "reinforce",
    "sarsa": "sarsa",
    "dqn": "dqn",
    "dqn_per": "ddqn_per",
    "a2c": "a2c",
    "ppo": "ppo",
    "sac_discrete": "sac",
    "a2c_continuous": "a2c",
    "ppo_continuous": "ppo",
    "sac_continuous": "sac",
    "ppo_atari": "ppo",
    "a2c_atari": "a2c",
    "dqn_atari": "dqn",
    "sac_atari": "sac",
}

# Stable-Baselines3's counterpart of each script for the throughput suite (None: SB3 has none).
SB3_ALGORITHM = {
    "reinforce": None,
    "sarsa": None,
    "dqn": "DQN",
    "dqn_per": None,  # SB3 has no prioritized replay
    "a2c": "A2C",
    "ppo": "PPO",
    "sac_discrete": None,  # SB3's SAC is continuous-only
    "a2c_continuous": "A2C",
    "ppo_continuous": "PPO",
    "sac_continuous": "SAC",
    "ppo_atari": "PPO",  # CnnPolicy on our env (ale-py in SB3's venv)
    "a2c_atari": "A2C",
    "dqn_atari": "DQN",
    "sac_atari": None,  # SB3's SAC is continuous-only
}


def _same(scripts, steps):
    return {s: steps for s in scripts}


# dqn.py with dqn_per.py's defaults (its LunarLander setting) in place of its CartPole ones.
_DQN_LIKE_DQN_PER = {
    "learning_rate": 5e-4,
    "batch_size": 64,
    "tau": 0.005,
    "target_network_frequency": 4,
    "train_frequency": 4,
    "gradient_steps": 2,
    "exploration_fraction": 0.2,
    "end_e": 0.01,
    "learning_starts": 5000,
    "hidden_sizes": [128, 128],
}

# classic: SLM-Lab's classic-control and Box2D budgets (docs/BENCHMARKS.md of kengz/SLM-Lab v5.3).
CLASSIC = [
    {
        "env_id": "CartPole-v1",
        "family": "classic control",
        "budgets": _same(DISCRETE, 200_000),
        "overrides": {
            "dqn": {**_DQN_LIKE_DQN_PER, "gradient_steps": 1},
            "dqn_per": {
                "learning_rate": 5e-4,
                "batch_size": 64,
                "tau": 0.005,
                "target_network_frequency": 4,
                "end_e": 0.01,
                "exploration_fraction": 0.2,
                "learning_starts": 5000,
                "gradient_steps": 1,
                "hidden_sizes": [128, 128],
            },
        },
    },
    {
        "env_id": "Acrobot-v1",
        "family": "classic control",
        "budgets": _same(DISCRETE, 300_000),
        "overrides": {
            "dqn": _DQN_LIKE_DQN_PER,
            "ppo": {
                "num_envs": 16,
                "normalize_v_targets": True,
                "gamma": 0.99,
                "gae_lambda": 0.94,
                "learning_rate": 5e-4,
            },
            "a2c": {"num_envs": 16, "learning_rate": 1e-2, "ent_coef": 0.01},
            "sac_discrete": {
                "target_entropy_scale": 0.5,
                "target_entropy_end_scale": 0.1,
                "target_entropy_decay_steps": 150_000,
                "target_q": "mean",
            },
        },
    },
    {
        "env_id": "Pendulum-v1",
        "family": "classic control",
        "budgets": _same(CONTINUOUS, 300_000),
        "overrides": {
            "ppo_continuous": {
                "gamma": 0.95,
                "gae_lambda": 0.1,
                "num_envs": 4,
                "num_steps": 128,
                "num_minibatches": 8,
                "activation": "relu",
            },
            "a2c_continuous": {
                "optimizer": "adam",
                "learning_rate": 1e-3,
                "norm_adv": True,
                "gamma": 0.95,
                "num_steps": 8,
                "init_log_std": -1.0,
                "activation": "relu",
                "norm_obs": False,
            },
            "sac_continuous": {
                "hidden_sizes": [64, 64],
                "batch_size": 128,
                "num_envs": 4,
                "learning_starts": 1000,
            },
        },
    },
    {
        "env_id": "LunarLander-v3",
        "family": "box2d",
        "budgets": _same(DISCRETE, 300_000),
        "overrides": {
            "dqn": {**_DQN_LIKE_DQN_PER, "gradient_steps": 4},
            "dqn_per": {
                "gradient_steps": 4,
                "buffer_size": 50_000,
                "alpha": 0.1,
                "hidden_sizes": [256, 256],
                "anneal_lr": True,
            },
            "ppo": {
                "num_envs": 8,
                "num_steps": 128,
                "num_minibatches": 16,
                "update_epochs": 10,
                "gamma": 0.99,
                "gae_lambda": 0.95,
                "ent_coef": 0.01,
                "normalize_v_targets": True,
            },
            "a2c": {
                "optimizer": "adam",
                "learning_rate": 3e-3,
                "num_envs": 16,
                "num_steps": 8,
                "gamma": 0.99,
                "gae_lambda": 1.0,
                "ent_coef": 1e-5,
                "vf_coef": 1.0,
                "max_grad_norm": 0.5,
            },
            "sac_discrete": {
                "hidden_sizes": [128, 128],
                "policy_lr": 5e-4,
                "q_lr": 5e-4,
                "target_entropy_scale": 0.5,
                "target_entropy_end_scale": 0.1,
                "target_entropy_decay_steps": 100_000,
                "learning_starts": 5000,
            },
        },
    },
    {
        "env_id": "LunarLanderContinuous-v3",
        "family": "box2d",
        "budgets": _same(CONTINUOUS, 300_000),
        "overrides": {
            "ppo_continuous": {
                "num_envs": 4,
                "num_steps": 512,
                "gamma": 0.999,
                "gae_lambda": 0.98,
                "init_log_std": -0.7,
            },
            "a2c_continuous": {
                "optimizer": "adam",
                "learning_rate": 1e-3,
                "norm_adv": True,
                "num_steps": 8,
                "init_log_std": -1.0,
                "activation": "relu",
                "norm_reward": False,
                "normalize_v_targets": True,
                "gamma": 0.999,
                "gae_lambda": 0.9,
                "layer_norm": True,
            },
            "sac_continuous": {
                "hidden_sizes": [128, 128],
                "num_envs": 2,
                "policy_lr": 7.3e-4,
                "q_lr": 7.3e-4,
                "tau": 0.01,
                "learning_starts": 10_000,
            },
        },
    },
]

# mujoco: SLM-Lab's MuJoCo v5 budgets, (PPO, SAC); A2C takes PPO's (on-policy) budget.
_MUJOCO_BUDGETS = {
    "Ant-v5": (10_000_000, 2_000_000),
    "HalfCheetah-v5": (10_000_000, 4_000_000),
    "Hopper-v5": (4_000_000, 3_000_000),
    "Humanoid-v5": (10_000_000, 1_000_000),
    "HumanoidStandup-v5": (4_000_000, 1_000_000),
    "InvertedDoublePendulum-v5": (10_000_000, 2_000_000),
    "InvertedPendulum-v5": (4_000_000, 2_000_000),
    "Pusher-v5": (4_000_000, 1_000_000),
    "Reacher-v5": (4_000_000, 1_000_000),
    "Swimmer-v5": (4_000_000, 2_000_000),
    "Walker2d-v5": (10_000_000, 3_000_000),
}
MUJOCO = [
    {
        "env_id": env_id,
        "family": "mujoco",
        "budgets": {"a2c_continuous": on_policy, "ppo_continuous": on_policy, "sac_continuous": sac},
    }
    for env_id, (on_policy, sac) in _MUJOCO_BUDGETS.items()
]

# mujoco1m: the budget CleanRL and RL Zoo publish MuJoCo at (1M env steps); SAC 300k on CPU.
# ppo_continuous on Swimmer: RL Zoo's tuned Swimmer PPO (gamma 0.9999, 4 envs x 1024 steps, minibatches of
# 256, constant lr 6e-4, GAE 0.98, SB3's unclipped value loss).
_PPO_SWIMMER = {
    "gamma": 0.9999,
    "num_envs": 4,
    "num_steps": 1024,
    "num_minibatches": 16,
    "learning_rate": 6e-4,
    "anneal_lr": False,
    "gae_lambda": 0.98,
    "clip_vloss": False,
}
# ppo_continuous on HalfCheetah: RL Zoo's tuned HalfCheetah PPO (1 env x 512 steps, minibatches of 64, 20
# epochs, lr 2.06e-5, clip 0.1, log-std starting at -2, ReLU 2x256): 3080.6 at 300k (seed 1) against 1085.4.
_PPO_HALFCHEETAH = {
    "num_envs": 1,
    "num_steps": 512,
    "num_minibatches": 8,
    "update_epochs": 20,
    "gamma": 0.98,
    "gae_lambda": 0.92,
    "learning_rate": 2.0633e-5,
    "anneal_lr": False,
    "ent_coef": 0.000401762,
    "vf_coef": 0.58096,
    "clip_coef": 0.1,
    "clip_vloss": False,
    "max_grad_norm": 0.8,
    "init_log_std": -2.0,
    "activation": "relu",
    "hidden_sizes": (256, 256),
}
# The policy's std starting at exp(-2), as in RL Zoo's A2C for the PyBullet Ant (log_std_init=-2) and its
# HalfCheetah PPO. Ant: at std 1 the ant jumps out of its healthy height range within ~20 steps: A2C never
# learns to stay up (-2.9 at 1M), PPO learns slowly (453.5). At 1M, seed 1, against the defaults: Ant
# a2c_continuous 1871.3 (-6.9), ppo_continuous 2012.0 (430.7); Humanoid ppo_continuous 719.9 (581.4);
# HalfCheetah a2c_continuous 3465.9 (RL Zoo's 4 envs x 5 steps, the override before: 1605 over 4 seeds).
_LOW_STD = {"init_log_std": -2.0}
_MUJOCO_1M_OVERRIDES = {
    "Ant-v5": {"a2c_continuous": _LOW_STD, "ppo_continuous": _LOW_STD},
    "HalfCheetah-v5": {"a2c_continuous": _LOW_STD, "ppo_continuous": _PPO_HALFCHEETAH},
    "Humanoid-v5": {"ppo_continuous": _LOW_STD},
    "Swimmer-v5": {"ppo_continuous": _PPO_SWIMMER},
}
MUJOCO_1M = [
    {
        "env_id": env_id,
        "family": "mujoco",
        "budgets": {"a2c_continuous": 1_000_000, "ppo_continuous": 1_000_000, "sac_continuous": 300_000},
        "overrides": _MUJOCO_1M_OVERRIDES.get(env_id, {}),
    }
    for env_id in _MUJOCO_BUDGETS
]

# atari: the 57 games of the Atari-57 benchmark, ALE v5 (sticky actions 0.25, frameskip 4).
# 10M agent steps each (SLM-Lab's PPO/A2C budget); SAC 2M as in SLM-Lab's SAC column.
ATARI_57 = (
    "Alien Amidar Assault Asterix Asteroids Atlantis BankHeist BattleZone BeamRider Berzerk Bowling Boxing "
    "Breakout Centipede ChopperCommand CrazyClimber Defender DemonAttack DoubleDunk Enduro FishingDerby "
    "Freeway Frostbite Gopher Gravitar Hero IceHockey Jamesbond Kangaroo Krull KungFuMaster MontezumaRevenge "
    "MsPacman NameThisGame Phoenix Pitfall Pong PrivateEye Qbert Riverraid RoadRunner Robotank Seaquest "
    "Skiing Solaris SpaceInvaders StarGunner Surround Tennis TimePilot Tutankham UpNDown Venture "
    "VideoPinball WizardOfWor YarsRevenge Zaxxon"
).split()
ATARI_SUITE = [
    {
        "env_id": f"ALE/{game}-v5",
        "family": "atari",
        "budgets": {
            "ppo_atari": 10_000_000,
            "a2c_atari": 10_000_000,
            "dqn_atari": 10_000_000,
            "sac_atari": 2_000_000,
        },
    }
    for game in ATARI_57
]

# smoke: every script on its default kind of env for a few thousand steps (seconds each; CI).
# Off-policy scripts start learning early (and keep a small buffer) so that updates run too.
_SMOKE_OFF_POLICY = {"learning_starts": 1536, "buffer_size": 10_000}
SMOKE = [
    {
        "env_id": "CartPole-v1",
        "family": "smoke",
        "budgets": _same(DISCRETE, 2048),
        "overrides": _same(["dqn", "dqn_per", "sac_discrete"], _SMOKE_OFF_POLICY),
    },
    {
        "env_id": "Pendulum-v1",
        "family": "smoke",
        "budgets": _same(CONTINUOUS, 2048),
        "overrides": {"sac_continuous": _SMOKE_OFF_POLICY},
    },
    {
        "env_id": "ALE/Pong-v5",
        "family": "smoke",
        "budgets": _same(ATARI, 2048),
        # Nature-CNN updates cost ~1 s each on 2 CPU cores: only the last 64 steps learn.
        "overrides": _same(["dqn_atari", "sac_atari"], {"learning_starts": 1984, "buffer_size": 10_000}),
    },
]

# throughput: a fixed number of steps per script on one env; off-policy learning starts early
# enough that most of the measured steps include updates. The same settings go to SB3.
_OFF_POLICY_START = {"learning_starts": 1000}
THROUGHPUT = [
    {
        "env_id": "CartPole-v1",
        "family": "throughput",
        "budgets": {
            "reinforce": 50_000,
            "sarsa": 20_000,
            "dqn": 20_000,
            "dqn_per": 20_000,
            "a2c": 50_000,
            "ppo": 50_000,
            "sac_discrete": 10_000,
        },
        "overrides": {
            "dqn": _OFF_POLICY_START,
            "dqn_per": _OFF_POLICY_START,
            "sac_discrete": _OFF_POLICY_START,
        },
    },
    {
        # The DQN family at its LunarLander setting (1 update per 2 env steps, Polyak targets).
        "env_id": "LunarLander-v3",
        "family": "throughput",
        "budgets": {"dqn": 20_000, "dqn_per": 20_000},
        "overrides": {"dqn": {**_DQN_LIKE_DQN_PER, **_OFF_POLICY_START}, "dqn_per": _OFF_POLICY_START},
    },
    {
        "env_id": "Hopper-v5",
        "family": "throughput",
        "budgets": {"a2c_continuous": 20_000, "ppo_continuous": 20_000, "sac_continuous": 5_000},
        "overrides": {"sac_continuous": _OFF_POLICY_START},
    },
    {
        "env_id": "ALE/Breakout-v5",
        "family": "throughput",
        "budgets": {"ppo_atari": 10_000, "a2c_atari": 10_000, "dqn_atari": 10_000, "sac_atari": 5_000},
        "overrides": {"dqn_atari": _OFF_POLICY_START, "sac_atari": _OFF_POLICY_START},
    },
]

SUITES = {
    "classic": {
        "entries": CLASSIC,
        "about": "every algorithm on classic control and Box2D, SLM-Lab's budgets",
    },
    "mujoco": {"entries": MUJOCO, "about": "the 11 MuJoCo v5 envs, SLM-Lab's budgets"},
    "mujoco1m": {"entries": MUJOCO_1M, "about": "the 11 MuJoCo v5 envs at the peers' 1M budget (SAC 300k)"},
    "atari": {"entries": ATARI_SUITE, "about": "the 57 ALE v5 games, 10M agent steps (SAC 2M)"},
    "throughput": {
        "entries": THROUGHPUT,
        "about": "SPS of every script beside env-only and Stable-Baselines3, median of 3, interleaved",
    },
    "smoke": {"entries": SMOKE, "about": "every script for a few thousand steps (CI)"},
}
