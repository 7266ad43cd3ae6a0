"""PPO for discrete actions: Schulman et al. 2017, "Proximal Policy Optimization Algorithms".

Clipped surrogate objective (eq. 7), maximised over a few epochs of minibatches of one rollout:

    L_clip = E_t[ min(rho_t * A_t, clip(rho_t, 1 - eps, 1 + eps) * A_t) ],  rho_t = pi(a_t|s_t) / pi_old(a_t|s_t)

plus a value loss ``vf_coef * (V(s_t) - R_t)^2`` and an entropy bonus ``ent_coef * H[pi(.|s_t)]``.
Advantages A_t are GAE(lambda) (Schulman et al. 2016) and R_t = A_t + V_old(s_t).

Options beyond the paper: ``clip_vloss`` (clip the value change as in OpenAI baselines),
``normalize_v_targets`` (the critic predicts returns standardised by running statistics),
``symlog_transform`` (the critic predicts symlog(R), Hafner et al. 2023, DreamerV3), learning-rate
annealing, advantage normalisation, global gradient-norm clipping.

Defaults: RL Zoo's tuned CartPole-v1 PPO (8 envs x 32 steps, 20 epochs of one minibatch, lr 1e-3
annealed, gamma 0.98, GAE lambda 0.8, no entropy bonus, no value clipping; RL Zoo also anneals the clip
range): mean return 500 at 200k steps (seeds 1-4), >= 450 from ~65k.
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh classic --print-jobs --rerun --seeds 1 --algos ppo --envs LunarLander``.

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``. Only termination zeroes the bootstrap; a time-limit truncation
bootstraps from V(final observation), computed at that step (CleanRL's PPO scripts treat it as termination).
"""

from __future__ import annotations

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
from common.returns import gae, next_values_from
from common.runs import Run
from common.value_transform import ValueTransform


@dataclass
class Args:
    exp_name: str = "ppo"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "CartPole-v1"
    """Gymnasium id of an env with a discrete action space"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 200_000
    """env steps to train for, summed over the parallel envs"""
    num_envs: int = 8
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """sync steps envs in this process (fastest on few cores); async uses one process per env"""
    num_steps: int = 32
    """steps per env in each rollout"""
    learning_rate: float = 1e-3
    """Adam learning rate"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0"""
    gamma: float = 0.98
    """discount factor"""
    gae_lambda: float = 0.8
    """lambda of GAE"""
    num_minibatches: int = 1
    """minibatches per epoch (must divide num_envs * num_steps)"""
    update_epochs: int = 20
    """epochs over each rollout"""
    norm_adv: bool = True
    """standardise advantages within each minibatch"""
    clip_coef: float = 0.2
    """the ratio clip epsilon"""
    clip_vloss: bool = False
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
    """record videos of env 0 into the run folder's videos/"""
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
    """Separate actor (logits) and critic (value) MLPs."""

    def __init__(self, obs_dim: int, n_actions: int, args: Args):
        super().__init__()
        hidden = list(args.hidden_sizes)
        self.actor = mlp([obs_dim, *hidden, n_actions], args.activation, args.layer_norm, 0.01)
        self.critic = mlp([obs_dim, *hidden, 1], args.activation, args.layer_norm, 1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """observations (N, ...) -> (logits (N, A), values (N,))."""
        x = obs.float().flatten(1)
        return self.actor(x), self.critic(x).squeeze(1)


def compute_loss(agent, value_transform, mb, args: Args):
    """PPO loss on one minibatch ``mb`` (obs, actions, log_probs, advantages, returns, values).

    Returns the total loss and a tensor of [policy_loss, value_loss, entropy, approx_kl, clipfrac].
    """
    obs, actions, old_log_probs, advantages, returns, old_values = mb
    logits, v_pred = agent(obs)
    log_probs_all = torch.log_softmax(logits, dim=-1)
    log_probs = log_probs_all.gather(1, actions.unsqueeze(1)).squeeze(1)
    entropy = -(log_probs_all.exp() * log_probs_all).sum(-1).mean()
    log_ratio = log_probs - old_log_probs
    ratio = log_ratio.exp()
    if args.norm_adv:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = torch.max(
        -advantages * ratio, -advantages * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)
    ).mean()

    # The critic regresses (transformed) returns; old_values are in the same transformed space.
    v_targets = value_transform.encode(returns)
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
    check_action_space(args.env_id, gym.spaces.Discrete, use_instead="algos/ppo_continuous.py")
    batch_size = args.num_envs * args.num_steps
    minibatch_size = batch_size // args.num_minibatches
    num_iterations = whole_rollouts(args.total_timesteps, batch_size)
    run = Run(args, report, RESUME_MUST_MATCH)
    device = run.device
    envs = make_envs(args, str(run.dir / "videos"))
    obs_shape = envs.single_observation_space.shape

    agent = Agent(int(np.prod(obs_shape)), int(envs.single_action_space.n), args).to(device)
    value_transform = ValueTransform(args.symlog_transform, args.normalize_v_targets).to(device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5, foreach=True)
    next_obs, _ = envs.reset(seed=args.seed)
    global_step, next_obs = run.resume(
        envs, next_obs, agent=agent, value_transform=value_transform, optimizer=optimizer
    )

    # Rollout storage, preallocated once, shapes (num_steps, num_envs, ...).
    obs_buf = torch.zeros((args.num_steps, args.num_envs, *obs_shape), device=device)
    actions = torch.zeros((args.num_steps, args.num_envs), dtype=torch.long, device=device)
    log_probs = torch.zeros((args.num_steps, args.num_envs), device=device)
    rewards = torch.zeros((args.num_steps, args.num_envs), device=device)
    terminated = torch.zeros((args.num_steps, args.num_envs), dtype=torch.bool, device=device)
    truncated = torch.zeros((args.num_steps, args.num_envs), dtype=torch.bool, device=device)
    values = torch.zeros((args.num_steps, args.num_envs), device=device)  # critic space
    final_values = torch.zeros((args.num_steps, args.num_envs), device=device)  # return space

    for iteration in range(global_step // batch_size + 1, num_iterations + 1):
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = args.learning_rate * (1.0 - (iteration - 1.0) / num_iterations)

        with torch.inference_mode():
            for step in range(args.num_steps):
                global_step += args.num_envs
                obs = torch.as_tensor(next_obs, device=device)
                obs_buf[step] = obs
                logits, value = agent(obs)
                action = torch.multinomial(logits.softmax(1), 1).squeeze(1)
                actions[step] = action
                log_probs[step] = torch.log_softmax(logits, 1).gather(1, action.unsqueeze(1)).squeeze(1)
                values[step] = value

                next_obs, reward, term, trunc, info = envs.step(action.cpu().numpy())
                rewards[step] = torch.as_tensor(reward, device=device)
                terminated[step] = torch.as_tensor(term, device=device)
                truncated[step] = torch.as_tensor(trunc, device=device)
                # Easy to overlook: a truncated episode bootstraps from its *final* observation,
                # which SAME_STEP autoreset hands over in info["final_obs"] (next_obs is the reset one).
                if trunc.any():
                    final_obs = torch.as_tensor(np.stack(info["final_obs"][trunc]), device=device)
                    final_v = agent(final_obs)[1]
                    final_values[step, torch.as_tensor(trunc, device=device)] = value_transform.decode(
                        final_v
                    )
                run.log_episodes(global_step, info)

            last_values = value_transform.decode(agent(torch.as_tensor(next_obs, device=device))[1])
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
        b_obs, b_actions, b_log_probs = obs_buf.flatten(0, 1), actions.view(-1), log_probs.view(-1)
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
        run.log(
            global_step,
            {
                "charts/learning_rate": optimizer.param_groups[0]["lr"],
                "losses/policy_loss": policy_loss,
                "losses/value_loss": value_loss,
                "losses/entropy": entropy,
                "losses/approx_kl": approx_kl,
                "losses/clipfrac": clipfrac,
                "losses/explained_variance": explained_var,
            },
        )
        if run.progress(global_step, f"entropy {entropy:.3f}", next_obs):
            break
    return run.finish(global_step, next_obs)


def policy(state: dict, args: Args, env, greedy: bool):
    """The saved agent as ``act(obs) -> action`` for evaluate.py: the argmax action, or a sampled one."""
    agent = Agent(int(np.prod(env.observation_space.shape)), int(env.action_space.n), args)
    agent.load_state_dict(state["agent"])

    def act(obs):
        logits, _ = agent(torch.as_tensor(obs).unsqueeze(0))
        return int(logits.argmax() if greedy else torch.multinomial(logits.softmax(-1), 1))

    return act


if __name__ == "__main__":
    train(cli(Args))
