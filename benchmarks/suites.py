"""Benchmark suites as data: which script runs on which env for how many env steps.

A suite is a list of entries ``{"env_id", "family", "budgets": {script: total_timesteps}}`` where a
budget is the number of env steps at ``--scale 1.0`` (SLM-Lab's "frames" = agent steps), plus
optional per-script ``overrides`` ({Args field: value}; fields a script lacks are skipped with a
note). Scripts are named, never imported here: the runner skips a script whose file does not exist
yet, so the suites work as scripts land. This module holds data only (no imports of ours).
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
        # dqn_per's defaults are for LunarLander; this slower, steadier setting (1 update per 4 steps,
        # Polyak tau 0.005) keeps the last 100 training episodes near 490 at 200k steps: dqn_per 484.9,
        # 487.2, 492.9, 500.0 (seeds 1-4).
        # dqn takes the same setting (plain DQN, no --double): 497.7, 438.3, 464.5, 464.4 at 200k. Hard
        # target copies every 500 steps (batch 128, epsilon 0.02 after 10k) gave 103.8 (seed 1 collapsed
        # from 446 to 104 at ~185k) and 431.0; dqn.py's defaults (RL Zoo's, 1e-3) 263.5 (seed 1).
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
        # dqn_per's defaults (its LunarLander setting) for both scripts: dqn -73.9, -81.9, -75.6, -76.5
        # (seeds 1-4) and dqn_per -79.1, -74.3 (seeds 1, 2) at 300k.
        # ppo: its CartPole defaults with 16 envs, standardised value targets, gamma 0.99 / GAE 0.94 (RL
        # Zoo's) and lr 5e-4: -79.0, -79.4, -80.3, -80.6 at 300k (lr 1e-3: -80.9, -82.1, -81.7, -79.6;
        # gamma 0.98 / GAE 0.8: -81.8, -81.5, -82.9, -80.0,
        # seeds 1-4; without the standardisation: -80.9, -87.1, -79.2, -84.3; 8 envs -81.5, seed 1;
        # gamma 0.99 / GAE 0.94, 4 minibatches, no standardisation: -79.2, -82.0, -99.5, -81.5).
        # a2c: its CartPole defaults with lr 1e-2, entropy 0.01 (5e-4 lets seeds collapse to a policy that
        # never reaches the goal: -500) and 16 envs: -83.8, -80.5, -80.8, -80.8 at 300k (8 envs: -79.8,
        # -83.9, -85.4, -84.4; lr 7e-3 with 16 envs: -500 on seeds 1, 2).
        # sac_discrete: the script's defaults (1 env, one update per env step, batch 64), the target entropy
        # decaying linearly from 0.5 to 0.1 log|A| over 150k steps, and the mean of the twin target critics
        # (--target-q mean) in place of their minimum: -79.6, -85.4, -79.6, -80.8 at 300k (seeds 1-4, mean
        # -81.3; 9-12 min a run here). Discovery was the problem: with the minimum, seeds 1-3 reached the
        # goal by 40-55k and seed 4 never did (-80.2, -82.4, -81.6, -500): before the first success every
        # action's Q is about equal, and the minimum of two critics is lowest where they disagree, on
        # unvisited states: nothing looks better than what was tried, and Q sinks to the all-fail value
        # -100 everywhere (by ~80k on seed 4; our reading). The mean keeps unvisited states optimistic:
        # seed 4 first reached the goal at 5k steps. On a 16-core host (torch 2.11), 60k-step probes: the
        # mean found the goal on 12 of 12 seeds (5-16) at 4-8k steps; the minimum on 1 of 4 (seeds 5-8).
        # Tried with the minimum, none enough: 50k random steps (seed 4: 100 random episodes never reach
        # the goal), alpha_min 0.01 with 10k random steps (seed 4 -500), a constant 0.5 log|A| (alpha climbs
        # to 0.6-0.9 once the policy commits: -104), and with 4 envs (one update per 4 env steps, batch
        # 128) a constant 0.1 log|A| (-81.4, -500, -88.6, -291.6), 0.98 -> 0.1 over 100k, alpha fixed at
        # 0.2, 128x128 nets with lr 1e-3, alpha starting at 1.
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
        # Short-horizon credit assignment (gamma 0.95, GAE lambda 0.1, as RLlib's tuned Pendulum PPO):
        # -400 at ~40k steps, -150 at 150k (seed 1); the Hopper defaults plateau near -600. The 512-step
        # rollout from 4 envs x 128 steps: seed 4 reaches -149 at 300k (-258 from 1 env x 512 steps).
        "overrides": {
            "ppo_continuous": {
                "gamma": 0.95,
                "gae_lambda": 0.1,
                "num_envs": 4,
                "num_steps": 128,
                "num_minibatches": 8,
                "activation": "relu",
            },
            # A2C: no per-env observation normalisation (its drifting statistics keep A2C's one gradient
            # step per rollout near -600); Adam 2e-3, normalised advantages: seeds 1-4 -162/-177/-182/-176
            # at 300k (lr 1e-3: -205/-190/-258/-212).
            "a2c_continuous": {
                "optimizer": "adam",
                "learning_rate": 2e-3,
                "norm_adv": True,
                "gamma": 0.95,
                "num_steps": 8,
                "init_log_std": -1.0,
                "activation": "relu",
                "norm_obs": False,
            },
            # SAC: 2x64 nets, batch 128, 4 envs (one update per 4 env steps): seeds 1-4 -149.7/-153.7/
            # -150.3/-142.9 at 300k (mean -149.2; ~-150 from ~45k on), 8-13 min each at 395-615 steps/s
            # under load; the Hopper defaults (2x256, one update per step) do ~60-150 steps/s.
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
        # ppo: 8 envs x 128 steps, 10 epochs of 64-sample minibatches, lr 1e-3 annealed, gamma 0.99,
        # GAE 0.95, ent 0.01, standardised value targets: 234.3, 237.9, 228.5, 246.5 at 300k (without the
        # standardisation: 206, 229, 149, 177, seeds 1-4); RL Zoo's gamma 0.999 / GAE 0.98
        # on 16 x 128 steps reach 117 (4 epochs) and 107 (10 epochs, lr 5e-4).
        # a2c: RL Zoo's setting (8 envs x 5 steps, n-step returns: GAE 1.0, gamma 0.995, ent 1e-5, clip 0.5;
        # vf_coef 1.0 = SB3's unhalved MSE) with Adam 2e-3 annealed in place of RMSprop 8.3e-4: 6.5, 180.3,
        # 48.1, 155.5 at 300k (seeds 1-4, mean 97.6; 85-125 s each at 2400-3500 steps/s under load); short of
        # 200: one gradient step per 40 env steps. Adam 1e-3: 31.6, 41.0, 85.1, 11.7 (mean 42.4). With
        # RMSprop 3e-3: 79.2, 126.0, -150.8,
        # -105.3 at 300k (seeds 1-4, mean -12.7). Unstable: seed 1 peaks at 174.5 (200k), seeds 3 and 4 at
        # 57 (140k) and 24 (126k), then fall back. Seed 3: ent 0.01 -48.1
        # (seed 1: -147.0), lr 2e-3 -89.8. Seed 1 (seed 2): lr 8.3e-4 29.9; 1.6e-3 68.6 (-4.2); with GAE
        # 0.95: lr 3e-3 -135.7 (164.8 at 150k), 2e-3 -89.5 (21.1 at 150k); standardised value targets
        # (8.3e-4: -98.0; 3e-3 with GAE 0.95: -110.4); 16 envs -14.2 (8.3e-4), -84.4 (3e-3); grad clip 5
        # -14.5. Earlier, with gamma 0.99, ent 0.01, standardised value targets: RMSprop 7e-3 -108.1; Adam
        # 1e-3 + normalised advantages -47.9 (8 x 32 steps), -99.2 (8 x 8 steps). A sweep of 12 variations
        # x 4 seeds on a 16-core host (benchmarks/notes.md): best 100.6 (16 envs x 8 steps, gamma 0.99).
        "overrides": {
            # dqn: dqn_per's defaults with 4 gradient steps per 4 env steps (replay ratio 1): 253.3, 262.3,
            # 273.6 at 300k (seeds 1-3; 2 steps: 223.0, 36.8, seed 2 hovering near -20 until ~280k).
            "dqn": {**_DQN_LIKE_DQN_PER, "gradient_steps": 4},
            # dqn_per: its defaults (one-step DDQN+PER) with 4 gradient steps per 4 env steps, a 50k buffer
            # (SLM-Lab's and RL Zoo's size here), PER alpha 0.1, 2x256 nets and the learning rate annealed
            # linearly to 0: 274.5, 279.4, 264.4, 276.1 at 300k (seeds 1-4, mean 273.6; 23 min each, four
            # at a time on the 2 cores). With 3-step returns (--n-step 3) on top: 282.0, 273.9, 272.4,
            # 274.8 (mean 275.8); 3-step without the annealing: 268.9, 258.1, 268.5, 261.8 (mean 264.3;
            # seed 2 had one -1292 episode in its last 100); 3-step with 2x128 nets: 273.6, 270.9, 250.8,
            # 249.8 (mean 261.3). 2x128, one-step, no annealing: 275.4, 244.5, 238.7, 253.6 (mean 253.1;
            # epsilon over 30k instead of 60k: 203.6, 275.6, 251.9, 249.3; that with annealing: 256.1,
            # 211.1, seeds 2, 3).
            # With one-step returns prioritisation costs here: alpha 0.4: 247.7, 235.5, 253.1, 239.1
            # (mean 243.9); alpha 0.2: 251.2, 240.9; alpha 0 (Double DQN, uniform replay): 271.0, 252.6
            # (seeds 1, 2). With alpha 0.4 and batch 128: 266.3, 223.7, 236.2, 240.0 (mean 241.5). The
            # buffer size was most of the gap to dqn.py (uniform replay, no double, 100k buffer: 265.5):
            # with PER and double both off (--alpha 0 --no-double), a buffer holding the whole run (300k)
            # gave 218.9, 196.9 (seeds 1, 2; dqn.py 253.3, 262.3). PER alpha 0.4 with a 100k buffer:
            # 244.6, 250.6, 210.4, 250.7 (mean 239.1); with 300k: 178.2, 199.1, 219.7, 250.7 (mean 211.9;
            # seed 1 peaks at 226 near 170k and ends at 178; alpha 0.2: 165.6, 207.5). 2x256 nets and
            # LayerNorm (300k): 181.9, 236.7. With alpha 0.6 (the default), 300k: 239.0, 232.6, 219.2,
            # -175.2 (mean 128.9; seed 4 held 200-215 from 175k to 250k, then fell to -282 at 275k);
            # 100k: seed 1 fell from 228 at 200k to about -500 as Q rose from 55 to 170 (-189.1; seed 2
            # 257.1); lr 2.5e-4: 237.0, 223.6 (seeds 1, 2). Its defaults (2 gradient steps): 257.9,
            # 204.9 (seed 2 near -20 until 160k). SLM-Lab's own spec (8 envs, 4 updates of 32 per 8
            # steps, 256-128 net, lr 2.5e-4, hard target every 100, Huber 1, alpha 0.6, 50k buffer):
            # 138.1 (seed 1).
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
            # a2c: the setting above on 16 envs x 8 steps with gamma 0.99 (the sweep's best) and Adam 3e-3:
            # 116.8, 125.6, 78.2, 128.7 at 300k (seeds 1-4, mean 112.3; ~25 s each on the quiet machine).
            # With 2e-3: 126.1, 126.0, 41.3, 107.7 (mean 100.3). A local sweep around it (notes.md): none
            # better.
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
            # sac_discrete: 2x128 nets, lr 5e-4, 5k random steps, one update per env step, and the target
            # entropy decaying linearly from 0.5 to 0.1 log|A| over the first 100k steps (explore, then
            # commit): 265.8, 146.7, 206.6, 260.6 at 300k (seeds 1-4, mean 219.9; 20-23 min each with three
            # other jobs running). With a constant 0.1 log|A| (alpha falls to ~0 by ~50k: a near-greedy
            # policy that stops firing once at rest, so the lander hovers through 1000-step episodes):
            # 255.0, 173.4, -15.2, 123.5 (mean 134.1; seed 3 still hovering at 300k, the decay lifts it to
            # 206.6). The defaults (0.5 log|A|, 2x64, lr 3e-4) hover: -30.9 at 300k (seed 1); 0.2 log|A|
            # with 4 envs x 2 updates, 2x128: -23.6 at 225k. 90k-step probes of other single changes
            # (benchmarks/notes.md) found no clear step.
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
        # RL Zoo's gamma 0.999 / GAE 0.98 on 4 envs x 512 steps, and a smaller initial std (exp(-0.7)
        # ~ 0.5): 263 at 300k (seed 1); init std 1 plateaus near 140 (hovering), the Hopper
        # defaults reach ~73 and RL Zoo's 16 x 1024-step rollouts (4 epochs) 57.
        "overrides": {
            "ppo_continuous": {
                "num_envs": 4,
                "num_steps": 512,
                "gamma": 0.999,
                "gae_lambda": 0.98,
                "init_log_std": -0.7,
            },
            # A2C (Adam 1e-3, normalised advantages, 8 envs x 8 steps, log-std -1): seeds 1-4 at 300k
            # 3.2/-129.7/-139.1/-200.4 (mean -116.6), far from 200; with 5d55378's shared observation
            # statistics (reverted in b2992c4): -124.4/-134.3/-92.7 (seeds 1-3). The trap is hovering to the
            # time limit (about -90; checked by playing a saved agent): most settings reach -50..0 at
            # 100-150k, then settle into it. Adam 2e-3, raw advantages, std exp(-2): -696.6, -57.2, -56.3,
            # -409.4 (seeds 1-4; 1 and 4 crash; a seed-1 probe while the script was being edited: 23.2; lr
            # 3e-3 seed 1 -95.7); with the shared statistics -696.6, -45.4, -187.6, -281.4. Seed 1 at 300k,
            # per-env
            # statistics: lr 2e-3 -88, log-std -0.5 -127, 16 envs -237, gamma 0.999 / GAE 0.98 -316 at
            # 200k; log-std -2 -120.8; gamma 0.999 / GAE 0.9 -33.6. Without observation normalisation (all
            # hover; seeds 1/2/4 -99/-109/-151): lr 2e-3 -94.9, std exp(-2) -83.8 (raw advantages -72.3;
            # gamma 0.999 -75.0), gamma 0.995 -99.5, no reward scaling but standardised value targets -94.7
            # (gamma 0.999 -108.2); RL Zoo-like RMSprop 2e-3, 8 x 5 steps, GAE 1.0, gamma 0.995, std exp(-2)
            # -82.4 (grad clip 5: 51.4 after -120 at 250k; gamma 0.999 -556, crashing). A sweep of 12
            # variations x 4 seeds on a 16-core host (benchmarks/notes.md): best -29.9 (no reward scaling,
            # standardised value targets, gamma 0.999, GAE 0.9).
            # The sweep's best (no reward scaling, standardised value targets, gamma 0.999, GAE 0.9) here:
            # -155.7, 23.1, -91.5, -107.2 at 300k (seeds 1-4, mean -82.8; 46-50 s each). With LayerNorm in
            # the hidden layers as well (a second host sweep's best, 22.5 there): -14.3, 45.2, 10.9, 94.7
            # (mean 34.1; ~70 s each with two other jobs running).
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
            # SAC: RL Zoo's learning rate 7.3e-4, tau 0.01 and 10k random steps, on 2x128 nets with
            # 2 envs (one update per 2 env steps) to fit the CPU budget: seeds 1-4 274/202/249/229 at 300k
            # (seed 1 221 at 83k; seed 2 slower, 263 at 248k then down to 202), 37/25/14/35 min at
            # 133/198/349/141 steps/s under load (the 2x256 defaults: ~60-150 steps/s).
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
# a2c_continuous: the per-env observation normalisation keeps A2C from learning InvertedPendulum
# (100k steps, seed 1: defaults 29.2; --no-norm-obs 295.1; 4 envs x 5 steps, RMSprop 7e-4 constant,
# GAE 1.0, --no-norm-obs 344.2; RL Zoo's 1 env x 5 steps with normalisation 302.0 at 37k, 384 steps/s)
# and slows it on InvertedDoublePendulum (100k, seed 1: defaults 63.8, --no-norm-obs 181.5). Their
# observations are bounded (the double pendulum's velocities and forces clipped to +-10).
_A2C_NO_NORM_OBS = {"norm_obs": False}
MUJOCO_1M = [
    {
        "env_id": env_id,
        "family": "mujoco",
        "budgets": {"a2c_continuous": 1_000_000, "ppo_continuous": 1_000_000, "sac_continuous": 300_000},
        "overrides": {"a2c_continuous": _A2C_NO_NORM_OBS} if env_id.startswith("Inverted") else {},
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
