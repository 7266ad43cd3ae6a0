"""PPO for continuous actions: Schulman et al. 2017, "Proximal Policy Optimization Algorithms".

Clipped surrogate objective (eq. 7), maximised over a few epochs of minibatches of one rollout:

    L_clip = E_t[ min(rho_t * A_t, clip(rho_t, 1 - eps, 1 + eps) * A_t) ],  rho_t = pi(a_t|s_t) / pi_old(a_t|s_t)

plus a value loss ``vf_coef * (V(s_t) - R_t)^2`` and an entropy bonus ``ent_coef * H[pi(.|s_t)]``.
Advantages A_t are GAE(lambda) (Schulman et al. 2016) and R_t = A_t + V_old(s_t).

The policy is the paper's MuJoCo one: a Gaussian ``N(mu_theta(s), diag(exp(2 log_std)))`` whose
log-std is a learned, state-independent vector. A sampled action is clipped to the action space
before the env sees it; the log-probability is that of the unclipped sample. The "implementation
details" of OpenAI baselines' ppo2 (Huang et al. 2022, "The 37 Implementation Details of PPO"):
observation normalisation (running mean/std, then clipped to +-10), reward scaling by the
running std of the discounted return (then clipped to +-10), orthogonal init, 2048-step rollouts,
10 epochs of 32 minibatches, Adam eps 1e-5, learning-rate annealing, advantage normalisation,
gradient-norm clipping. Options as ppo.py: ``clip_vloss``, ``normalize_v_targets``,
``symlog_transform``.

Defaults: the details above, for MuJoCo v5; at 1M steps Hopper-v5 2576, Walker2d-v5 3643, HalfCheetah-v5
1735 (mean of seeds 1, 2; docs/BENCHMARKS.md).
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh classic --print-jobs --rerun --seeds 1 --algos ppo_continuous --envs Pendulum``.

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``. Only termination zeroes the bootstrap; a time-limit truncation
(MuJoCo: 1000 steps) bootstraps from V(final observation).
``Normalize`` (common/normalize.py) normalises observations and scales rewards once per vector step,
with one set of statistics for all envs, ``info["final_obs"]`` included (per-env statistics broke
Pendulum with 4 envs); it wraps ``RecordEpisodeStatistics``, so logged returns are the raw ones.
The rollout runs only the actor; V(s_t), V(final obs) and the old log-probabilities are computed for
the whole rollout in one batched forward after it.
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
    exp_name: str = "ppo_continuous"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "Hopper-v5"
    """Gymnasium id of an env with a Box action space"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 1_000_000
    """env steps to train for, summed over the parallel envs"""
    num_envs: int = 1
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """sync steps envs in this process (fastest on few cores); async uses one process per env"""
    num_steps: int = 2048
    """steps per env in each rollout"""
    learning_rate: float = 3e-4
    """Adam learning rate"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of GAE"""
    num_minibatches: int = 32
    """minibatches per epoch (must divide num_envs * num_steps)"""
    update_epochs: int = 10
    """epochs over each rollout"""
    norm_adv: bool = True
    """standardise advantages within each minibatch"""
    clip_coef: float = 0.2
    """the ratio clip epsilon"""
    clip_vloss: bool = True
    """clip the value loss around the old values (OpenAI baselines)"""
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
    target_kl: float | None = None
    """stop the epochs of an update early once the approximate KL exceeds this"""
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


def numpy_actor(net: nn.Sequential, activation: str):
    # 1.18x steps/s over acting with torch (whole process, Hopper): numpy costs less per one-row call
    layers = [(m.weight.numpy(force=True).T.copy(), m.bias.numpy(force=True)) for m in net[::2]]
    act = {"relu": lambda x: np.maximum(x, np.float32(0)), "tanh": np.tanh}[activation]

    def forward(x: np.ndarray) -> np.ndarray:
        for w, b in layers[:-1]:
            x = act(x @ w + b)
        return x @ layers[-1][0] + layers[-1][1]

    return forward


def gaussian_log_prob(actions: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(actions; mean, diag(exp(log_std)^2)), summed over the action dimensions: (B, A) -> (B,)."""
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std).sum(-1) - 0.5 * math.log(2 * math.pi) * actions.shape[-1]


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy of the diagonal Gaussian; with a state-independent std it is the same for every state."""
    return (log_std + 0.5 * (1.0 + math.log(2 * math.pi))).sum()


def compute_loss(agent, value_transform, mb, args: Args):
    """PPO loss on one minibatch ``mb`` (obs, actions, log_probs, advantages, returns, values).

    Returns the total loss and a tensor of [policy_loss, value_loss, entropy, approx_kl, clipfrac].
    """
    obs, actions, old_log_probs, advantages, returns, old_values = mb
    log_probs = gaussian_log_prob(actions, agent.actor_mean(obs), agent.actor_logstd)
    entropy = gaussian_entropy(agent.actor_logstd)
    log_ratio = log_probs - old_log_probs
    ratio = log_ratio.exp()
    if args.norm_adv:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = torch.max(
        -advantages * ratio, -advantages * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)
    ).mean()

    # The critic regresses (transformed) returns; old_values are in the same transformed space.
    v_targets = value_transform.encode(returns)
    v_pred = agent.critic(obs).squeeze(1)
    if args.clip_vloss:
        v_clipped = old_values + (v_pred - old_values).clamp(-args.clip_coef, args.clip_coef)
        value_loss = 0.5 * torch.max((v_pred - v_targets) ** 2, (v_clipped - v_targets) ** 2).mean()
    else:
        value_loss = 0.5 * ((v_pred - v_targets) ** 2).mean()

    loss = policy_loss - args.ent_coef * entropy + args.vf_coef * value_loss
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()  # http://joschu.net/blog/kl-approx.html
        clipfrac = ((ratio - 1.0).abs() > args.clip_coef).float().mean()
    stats = torch.stack([policy_loss.detach(), value_loss.detach(), entropy.detach(), approx_kl, clipfrac])
    return loss, stats


def train(args: Args, report=None) -> dict:
    check_args(args)
    check_action_space(args.env_id, gym.spaces.Box, use_instead="algos/ppo.py")
    batch_size = args.num_envs * args.num_steps
    minibatch_size = batch_size // args.num_minibatches
    num_iterations = whole_rollouts(args.total_timesteps, batch_size)
    run = Run(args, report, RESUME_MUST_MATCH)
    device = run.device

    envs = Normalize(make_envs(args, str(run.dir / "videos"), copy=False), args)
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    act_dim = int(np.prod(envs.single_action_space.shape))
    action_low, action_high = envs.single_action_space.low, envs.single_action_space.high

    agent = Agent(obs_dim, act_dim, args).to(device)
    value_transform = ValueTransform(args.symlog_transform, args.normalize_v_targets).to(device)
    # fused: one kernel for the whole step, ~1.2x an update's speed over foreach for these MLPs on CPU
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5, fused=True)
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

    numpy_acting = device.type == "cpu" and not args.layer_norm  # else the torch actor acts
    for iteration in range(global_step // batch_size + 1, num_iterations + 1):
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = args.learning_rate * (1.0 - (iteration - 1.0) / num_iterations)

        with torch.no_grad():
            # All the rollout's Gaussian noise at once: a_t = mu(s_t) + std * noise_t.
            scaled_noise = torch.randn((args.num_steps, args.num_envs, act_dim), device=device)
            scaled_noise = (scaled_noise * agent.actor_logstd.exp()).cpu().numpy()
        actor_numpy = numpy_actor(agent.actor_mean, args.activation) if numpy_acting else None
        for step in range(args.num_steps):
            global_step += args.num_envs
            obs_np[step] = next_obs
            if actor_numpy is not None:
                mean = actor_numpy(obs_np[step])
            else:
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

        with torch.inference_mode():
            # V(s_t), V(final obs) in one batched forward over the rollout.
            b_obs = torch.from_numpy(obs_np).to(device).view(batch_size, -1)
            b_actions = torch.from_numpy(actions_np).to(device).view(batch_size, -1)
            b_log_probs = gaussian_log_prob(b_actions, agent.actor_mean(b_obs), agent.actor_logstd)
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
        values = value_transform.encode(values_raw)  # old values in the new statistics, for clip_vloss

        # Learn: epochs of shuffled minibatches over the flattened rollout.
        b_advantages, b_returns, b_values = advantages.view(-1), returns.view(-1), values.view(-1)
        all_stats = []
        for _epoch in range(args.update_epochs):
            perm = torch.randperm(batch_size, device=device)
            for start in range(0, batch_size, minibatch_size):
                idx = perm[start : start + minibatch_size]
                mb = (
                    b_obs[idx],
                    b_actions[idx],
                    b_log_probs[idx],
                    b_advantages[idx],
                    b_returns[idx],
                    b_values[idx],
                )
                loss, stats = compute_loss(agent, value_transform, mb, args)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm, foreach=True)
                optimizer.step()
                all_stats.append(stats)
            if args.target_kl is not None and stats[3].item() > args.target_kl:
                break

        policy_loss, value_loss, entropy, approx_kl, clipfrac = torch.stack(all_stats).mean(0).tolist()
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
                "losses/approx_kl": approx_kl,
                "losses/clipfrac": clipfrac,
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
