"""A2C for continuous actions: Mnih et al. 2016, "Asynchronous Methods for Deep Reinforcement Learning".

The synchronous variant (OpenAI baselines' A2C): one gradient step on each rollout of
``num_envs * num_steps`` transitions, on the policy-gradient loss

    L_pi = -E_t[ A_t * log pi(a_t|s_t) ]

plus a value loss ``vf_coef * (V(s_t) - R_t)^2`` and an entropy bonus ``ent_coef * H[pi(.|s_t)]``.
Advantages A_t are GAE(lambda) (Schulman et al. 2016) and R_t = A_t + V(s_t). With
``--gae-lambda 1.0`` they are the paper's n-step returns: each step bootstraps from the value at the
rollout's end, up to ``num_steps`` steps ahead (A3C's t_max; truncations and terminations cut it).

The policy is a Gaussian ``N(mu_theta(s), diag(exp(2 log_std)))`` whose log-std is a learned,
state-independent vector (the paper's MuJoCo policy has a state-dependent variance). A sampled
action is clipped to the action space before the env sees it; the log-probability is that of the
unclipped sample. As ppo_continuous.py: observation normalisation (running mean/std, then
clipped to +-10), reward scaling by the running std of the discounted return (then clipped to
+-10), orthogonal init. Written as ppo_continuous.py minus what PPO adds:
``diff algos/a2c_continuous.py algos/ppo_continuous.py`` shows the clipped ratio (and the old
log-probabilities it needs), the value clipping, the epochs and the minibatches, and ppo_continuous's
numpy actor (a speed trick that would buy A2C only 1.03x: benchmarks/notes.md).
Options beyond the paper: Adam or AdamW instead of RMSprop (``--optimizer``, ``--weight-decay``),
``normalize_v_targets``, ``symlog_transform``, learning-rate annealing, advantage normalisation,
gradient-norm clipping.
Actor and critic are separate MLPs (the paper shares a trunk).

Defaults: for MuJoCo v5 (8 envs x 16 steps, RMSprop 7e-4 annealed, GAE 0.95); at 1M steps Hopper-v5
1437.6, Walker2d-v5 652.4, InvertedDoublePendulum-v5 8399 (mean of seeds 1, 2; docs/BENCHMARKS.md).
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh classic --print-jobs --rerun --seeds 1 --algos a2c_continuous --envs LunarLanderContinuous``.

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``. Only termination zeroes the bootstrap; a time-limit truncation
(MuJoCo: 1000 steps) bootstraps from V(final observation).
``Normalize`` (common/normalize.py) normalises observations and scales rewards once per vector step,
with one set of statistics for all envs, ``info["final_obs"]`` included (per-env statistics broke
Pendulum with 4 envs); it wraps ``RecordEpisodeStatistics``, so logged returns are the raw ones.
The rollout runs only the actor; V(s_t) and V(final obs) are computed for the whole rollout in one
batched forward after it.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.checks import check_args, whole_rollouts
from common.cli import cli
from common.envs import check_action_space, make_envs
from common.normalize import Normalize
from common.returns import gae, next_values_from
from common.runs import Run
from common.value_transform import ValueTransform


@dataclass
class Args:
    exp_name: str = "a2c_continuous"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "Hopper-v5"
    """Gymnasium id of an env with a Box action space"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 1_000_000
    """env steps to train for, summed over the parallel envs"""
    num_envs: int = 8
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """sync steps envs in this process (fastest on few cores); async uses one process per env"""
    num_steps: int = 16
    """steps per env in each rollout"""
    learning_rate: float = 7e-4
    """learning rate of the optimizer"""
    optimizer: Literal["rmsprop", "adam", "adamw"] = "rmsprop"
    """RMSprop (alpha 0.99, eps 1e-5, as the paper), Adam (eps 1e-5) or AdamW (Adam, decoupled weight decay)"""
    weight_decay: float = 0.0
    """weight decay: decoupled with adamw (Loshchilov & Hutter 2019), an L2 term in the gradient otherwise"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of GAE"""
    norm_adv: bool = False
    """standardise advantages within each rollout"""
    normalize_v_targets: bool = False
    """the critic predicts returns standardised by running mean and std"""
    symlog_transform: bool = False
    """the critic predicts symlog(returns) (DreamerV3)"""
    ent_coef: float = 0.0
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """global gradient-norm clip"""
    norm_obs: bool = True
    """normalise observations by running mean and std (shared by the envs), then clip to +-obs_clip"""
    obs_clip: float = 10.0
    """clip of the normalised observations"""
    norm_reward: bool = True
    """scale rewards by the running std of the discounted return, then clip to +-reward_clip"""
    reward_clip: float = 10.0
    """clip of the scaled rewards"""
    init_log_std: float = 0.0
    """initial log standard deviation of the Gaussian policy (-2 in some MuJoCo envs: docs/BENCHMARKS.md)"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer widths of the actor and of the critic"""
    activation: Literal["tanh", "relu"] = "tanh"
    """activation of the hidden layers"""
    layer_norm: bool = False
    """LayerNorm after each hidden linear layer"""
    cuda: bool = False
    """use CUDA when available"""
    torch_deterministic: bool = True
    """deterministic torch algorithms"""
    torch_threads: int = 0
    """torch CPU threads; 0: auto, 1 thread for networks under 50k parameters in all, else 2 (at most the
    physical cores and $OMP_NUM_THREADS; the faster per script on an idle 2-core CPU, and a fixed count
    keeps curves equal across machines). Runs side by side on one machine: give each 1"""
    capture_video: bool = False
    """record videos of env 0 into the run folder's videos/ (MuJoCo needs MUJOCO_GL=egl here)"""
    save_model: bool = False
    """write checkpoints/latest.pt at the end of training"""
    checkpoint_every: int = 0
    """also write checkpoints/latest.pt every this many env steps (0: never)"""
    resume: str | None = None
    """checkpoint to continue training from (its Args are the defaults; the run folder is reused)"""
    runs_dir: str = "runs"
    """folder of the run folders"""


# Arguments that shape the saved state: a resumed run must use the checkpoint's values.
RESUME_MUST_MATCH = (
    "env_id",
    "num_envs",
    "hidden_sizes",
    "activation",
    "layer_norm",
    "normalize_v_targets",
    "symlog_transform",
    "norm_obs",
    "norm_reward",
)


def layer_init(layer: nn.Module, std: float = np.sqrt(2)) -> nn.Module:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer


def mlp(sizes, activation, layer_norm: bool, out_std: float) -> nn.Sequential:
    """Linear layers with orthogonal init (sqrt(2) gain inside, ``out_std`` for the output)."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers.append(layer_init(nn.Linear(n_in, n_out)))
        layers += [nn.LayerNorm(n_out), act()] if layer_norm else [act()]
    layers.append(layer_init(nn.Linear(sizes[-2], sizes[-1]), out_std))
    return nn.Sequential(*layers)


class Agent(nn.Module):
    """Separate actor (Gaussian mean, state-independent log-std) and critic (value) MLPs."""

    def __init__(self, obs_dim: int, act_dim: int, args: Args):
        super().__init__()
        hidden = list(args.hidden_sizes)
        self.actor_mean = mlp([obs_dim, *hidden, act_dim], args.activation, args.layer_norm, 0.01)
        self.actor_logstd = nn.Parameter(torch.full((act_dim,), args.init_log_std))
        self.critic = mlp([obs_dim, *hidden, 1], args.activation, args.layer_norm, 1.0)


def gaussian_log_prob(actions: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(actions; mean, diag(exp(log_std)^2)), summed over the action dimensions: (B, A) -> (B,)."""
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std).sum(-1) - 0.5 * math.log(2 * math.pi) * actions.shape[-1]


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy of the diagonal Gaussian; with a state-independent std it is the same for every state."""
    return (log_std + 0.5 * (1.0 + math.log(2 * math.pi))).sum()


def compute_loss(agent, value_transform, mb, args: Args):
    """A2C loss on one minibatch ``mb``, the whole rollout (obs, actions, advantages, returns).

    Returns the total loss and a tensor of [policy_loss, value_loss, entropy].
    """
    obs, actions, advantages, returns = mb
    log_probs = gaussian_log_prob(actions, agent.actor_mean(obs), agent.actor_logstd)
    entropy = gaussian_entropy(agent.actor_logstd)
    if args.norm_adv:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = -(advantages * log_probs).mean()

    # The critic regresses (transformed) returns.
    v_targets = value_transform.encode(returns)
    v_pred = agent.critic(obs).squeeze(1)
    value_loss = 0.5 * ((v_pred - v_targets) ** 2).mean()

    loss = policy_loss - args.ent_coef * entropy + args.vf_coef * value_loss
    stats = torch.stack([policy_loss.detach(), value_loss.detach(), entropy.detach()])
    return loss, stats


def train(args: Args, report=None) -> dict:
    check_args(args)
    check_action_space(args.env_id, gym.spaces.Box, use_instead="algos/a2c.py")
    batch_size = args.num_envs * args.num_steps
    num_iterations = whole_rollouts(args.total_timesteps, batch_size)
    run = Run(args, report, RESUME_MUST_MATCH)
    device = run.device

    envs = Normalize(make_envs(args, str(run.dir / "videos"), copy=False), args)
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    act_dim = int(np.prod(envs.single_action_space.shape))
    action_low, action_high = envs.single_action_space.low, envs.single_action_space.high

    agent = Agent(obs_dim, act_dim, args).to(device)
    value_transform = ValueTransform(args.symlog_transform, args.normalize_v_targets).to(device)
    optimizers = {"rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    optimizer = optimizers[args.optimizer](
        agent.parameters(), lr=args.learning_rate, eps=1e-5, weight_decay=args.weight_decay, foreach=True
    )
    next_obs, _ = envs.reset(seed=args.seed)
    global_step, next_obs = run.resume(
        envs,
        next_obs,
        agent=agent,
        value_transform=value_transform,
        optimizer=optimizer,
        norm_stats=envs,
    )

    # Rollout storage, preallocated once, shapes (num_steps, num_envs, ...). Numpy (cheaper per step
    # than torch indexing); torch views of the same memory for the update.
    obs_np = np.zeros((args.num_steps, args.num_envs, obs_dim), dtype=np.float32)
    final_obs_np = np.zeros((args.num_steps, args.num_envs, obs_dim), dtype=np.float32)
    actions_np = np.zeros((args.num_steps, args.num_envs, act_dim), dtype=np.float32)
    rewards_np = np.zeros((args.num_steps, args.num_envs), dtype=np.float32)
    terminated_np = np.zeros((args.num_steps, args.num_envs), dtype=np.bool_)
    truncated_np = np.zeros((args.num_steps, args.num_envs), dtype=np.bool_)

    for iteration in range(global_step // batch_size + 1, num_iterations + 1):
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = args.learning_rate * (1.0 - (iteration - 1.0) / num_iterations)

        with torch.no_grad():
            # All the rollout's Gaussian noise at once: a_t = mu(s_t) + std * noise_t.
            scaled_noise = torch.randn((args.num_steps, args.num_envs, act_dim), device=device)
            scaled_noise = (scaled_noise * agent.actor_logstd.exp()).cpu().numpy()
        for step in range(args.num_steps):
            global_step += args.num_envs
            obs_np[step] = next_obs
            with torch.no_grad():
                mean = agent.actor_mean(torch.as_tensor(obs_np[step], device=device)).cpu().numpy()
            actions_np[step] = action = mean + scaled_noise[step]

            next_obs, reward, term, trunc, info = envs.step(action.clip(action_low, action_high))
            rewards_np[step] = reward
            terminated_np[step] = term
            truncated_np[step] = trunc
            # Easy to overlook: a truncated episode bootstraps from its *final* observation,
            # which SAME_STEP autoreset hands over in info["final_obs"] (next_obs is the reset one).
            if trunc.any():
                final_obs_np[step, trunc] = np.stack(info["final_obs"][trunc])
            run.log_episodes(global_step, info)

        with torch.no_grad():  # not inference_mode: the update takes gradients through these tensors
            # V(s_t), V(final obs) in one batched forward over the rollout.
            b_obs = torch.from_numpy(obs_np).to(device).view(batch_size, -1)
            b_actions = torch.from_numpy(actions_np).to(device).view(batch_size, -1)
            values = agent.critic(b_obs).view(args.num_steps, args.num_envs)  # critic space
            rewards, terminated, truncated = (
                torch.from_numpy(x).to(device) for x in (rewards_np, terminated_np, truncated_np)
            )
            final_values = torch.zeros_like(values)  # return space
            if truncated.any():
                final_obs = torch.from_numpy(final_obs_np).to(device)[truncated]
                final_values[truncated] = value_transform.decode(agent.critic(final_obs).squeeze(1))

            last_obs = torch.as_tensor(next_obs, dtype=torch.float32, device=device).view(args.num_envs, -1)
            last_values = value_transform.decode(agent.critic(last_obs).squeeze(1))
            values_raw = value_transform.decode(values)
            next_values = next_values_from(values_raw, last_values, final_values, truncated)
            advantages, returns = gae(
                rewards,
                values_raw,
                next_values,
                terminated,
                terminated | truncated,
                args.gamma,
                args.gae_lambda,
            )
        value_transform.update(returns)

        # Learn: one gradient step on the whole rollout.
        b_advantages, b_returns = advantages.view(-1), returns.view(-1)
        mb = (b_obs, b_actions, b_advantages, b_returns)
        loss, stats = compute_loss(agent, value_transform, mb, args)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm, foreach=True)
        optimizer.step()

        policy_loss, value_loss, entropy = stats.tolist()
        losses = {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
        run.check_finite(global_step, losses, agent, value_transform)
        with torch.no_grad():
            y_pred, y_true = values_raw.view(-1), b_returns
            explained_var = (1 - (y_true - y_pred).var() / y_true.var()).item()
        action_std = agent.actor_logstd.exp().mean().item()
        run.log(
            global_step,
            {
                "charts/learning_rate": optimizer.param_groups[0]["lr"],
                "charts/action_std": action_std,
                "losses/policy_loss": policy_loss,
                "losses/value_loss": value_loss,
                "losses/entropy": entropy,
                "losses/explained_variance": explained_var,
            },
        )
        if run.progress(global_step, f"std {action_std:.3f}", next_obs):
            break
    return run.finish(global_step, next_obs)


def policy(state: dict, args: Args, env, greedy: bool):
    """The saved agent as ``act(obs) -> action`` for evaluate.py: the Gaussian's mean, or a sample, clipped
    to the action space; observations normalised with the frozen statistics of training."""
    agent = Agent(int(np.prod(env.observation_space.shape)), int(np.prod(env.action_space.shape)), args)
    agent.load_state_dict(state["agent"])
    obs_rms = state["norm_stats"]["obs_rms"]

    def act(obs):
        if obs_rms is not None:
            obs = np.clip((obs - obs_rms.mean) / np.sqrt(obs_rms.var + 1e-8), -args.obs_clip, args.obs_clip)
        mean = agent.actor_mean(torch.as_tensor(obs, dtype=torch.float32).view(1, -1))[0]
        action = mean if greedy else mean + agent.actor_logstd.exp() * torch.randn_like(mean)
        return np.clip(action.numpy(), env.action_space.low, env.action_space.high)

    return act


if __name__ == "__main__":
    train(cli(Args))
