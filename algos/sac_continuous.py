"""SAC for continuous actions: Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications"
(SAC v2: no value network, twin Q, automatic temperature).

A tanh-squashed Gaussian policy a = tanh(u), u ~ N(mu(s), sigma(s)^2), with the change-of-variables
correction (appendix C):

    log pi(a|s) = sum_i [ log N(u_i; mu_i, sigma_i) - log(1 - tanh(u_i)^2) ]

Twin critics with clipped double-Q targets from Polyak-averaged target networks (eq. 3 with TD3's min):

    y = r + gamma * (1 - terminated) * ( min_i Q_targ_i(s', a') - alpha * log pi(a'|s') ),  a' ~ pi(.|s')
    L_Q = sum_i E[(Q_i(s, a) - y)^2]
    L_pi = E_s[ alpha * log pi(a|s) - min_i Q_i(s, a) ],  a ~ pi(.|s)  (reparameterised)
    L_alpha = E_s[ -log(alpha) * (log pi(a|s) + target_entropy) ],  target_entropy = -|A|

Deviations and choices: the log-probabilities (and so the entropy target) live in the squashed
space [-1, 1]^|A|; actions are then rescaled affinely to the env's bounds, so -|A| means the same
for every env (SB3's convention; CleanRL adds log(scale) to log pi). The temperature is learned as
log(alpha) and its loss uses log(alpha) (SB3). ``policy_frequency`` d > 1 updates the actor and
alpha once every d critic updates (TD3's delay). log sigma is squashed into [-5, 2] by tanh (CleanRL).

Defaults: for MuJoCo v5 (2x256 nets, batch 256, one update per env step after 5k random steps); Hopper-v5
1463 at 100k steps (seed 1, run with --bf16; docs/BENCHMARKS.md).
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh classic --print-jobs --rerun --seeds 1 --algos sac_continuous --envs Pendulum``.

Speed: the actor and temperature losses share one backward pass and one fused Adam step; the
log-probabilities of the policy sample are computed once and reused by the temperature loss; the
actor's loss runs the critics with requires_grad off (no weight gradients computed for them);
Polyak averaging is one in-place torch._foreach_lerp_.
``--bf16`` (opt-in) runs the hidden layers' matmuls in bfloat16 (the Q output layer and the actor's
head stay float32); on Hopper-v5 the same curve as float32 (docs/BENCHMARKS.md). It needs a CPU that
multiplies bf16 natively and is not faster on all of them (benchmarks/notes.md, "Threads and bf16").

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``; the buffer stores it as next_obs and only ``terminated`` zeroes
the bootstrap, so a truncated transition bootstraps from Q(final obs).
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
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.checks import check_args
from common.cli import cli
from common.envs import check_action_space, make_envs
from common.replay import ReplayBuffer, real_next_obs
from common.returns import td_targets
from common.runs import Run


@dataclass
class Args:
    exp_name: str = "sac_continuous"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "Hopper-v5"
    """Gymnasium id of an env with a bounded Box action space"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 1_000_000
    """env steps to train for, summed over the parallel envs"""
    num_envs: int = 1
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """sync steps envs in this process (fastest on few cores); async uses one process per env"""
    buffer_size: int = 1_000_000
    """replay buffer capacity (transitions)"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """Polyak coefficient of the target critics: targ <- (1 - tau) targ + tau online"""
    batch_size: int = 256
    """transitions per gradient update"""
    learning_starts: int = 5_000
    """env steps of uniformly random actions before the first update"""
    updates_per_step: int = 1
    """gradient updates per vector-env step"""
    policy_lr: float = 3e-4
    """Adam learning rate of the actor"""
    q_lr: float = 1e-3
    """Adam learning rate of the critics and of the temperature"""
    policy_frequency: int = 1
    """update the actor and alpha once every this many critic updates (delayed policy updates)"""
    target_network_frequency: int = 1
    """Polyak-update the target critics once every this many critic updates"""
    alpha: float = 0.2
    """entropy temperature (the initial value when autotune is on)"""
    autotune: bool = True
    """learn alpha towards the target entropy -|A|"""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """hidden layer widths of the actor and of each critic"""
    activation: Literal["relu", "tanh"] = "relu"
    """activation of the hidden layers"""
    layer_norm: bool = False
    """LayerNorm after each hidden linear layer"""
    bf16: bool = False
    """bfloat16 autocast for the hidden layers' matmuls; outputs stay float32. Measured on 2-core CPUs
    with AVX512-BF16: 0.87x the CPU time of float32 on an AMD EPYC (Zen 4), a 1.34x slower update on an
    Intel Xeon without AMX"""
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
    log_every: int = 1_000
    """log losses, SPS and the curve every this many env steps"""
    save_model: bool = False
    """write a checkpoint at the end of training"""
    checkpoint_every: int = 0
    """also write a checkpoint every this many env steps, at the first log point past each multiple (0: never)"""
    checkpoint_buffer: Literal["auto", "on", "off"] = "auto"
    """put the replay buffer into checkpoints for an exact resume (auto: where its arrays take <= 2 GiB, so
    not for Humanoid at 1M); without it a resumed run refills it with the current policy before updating again"""
    resume: str | None = None
    """path of a checkpoint to continue training from"""
    runs_dir: str = "runs"
    """folder of the run folders"""


# Arguments that shape the saved state: a resumed run must use the checkpoint's values.
RESUME_MUST_MATCH = ("env_id", "num_envs", "hidden_sizes", "activation", "layer_norm", "buffer_size")


def mlp(sizes, activation: str, layer_norm: bool) -> nn.Sequential:
    """Linear layers (PyTorch's default init), each followed by [LayerNorm,] activation."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers.append(nn.Linear(n_in, n_out))
        layers += [nn.LayerNorm(n_out), act()] if layer_norm else [act()]
    return nn.Sequential(*layers)


class TwinQNetwork(nn.Module):
    """Two independent MLP critics Q_1(s, a), Q_2(s, a) of the input [s, a]; output (2, B).
    Each output layer runs in float32 even under bf16 autocast: bf16 keeps only ~3 digits of Q."""

    def __init__(self, in_dim: int, args: Args):
        super().__init__()
        self.trunks = nn.ModuleList(
            mlp([in_dim, *args.hidden_sizes], args.activation, args.layer_norm) for _ in range(2)
        )
        self.heads = nn.ModuleList(nn.Linear(args.hidden_sizes[-1], 1) for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q_values = []
        for trunk, head in zip(self.trunks, self.heads):
            hidden = trunk(x)
            with torch.autocast(x.device.type, enabled=False):
                q_values.append(head(hidden.float()).squeeze(-1))
        return torch.stack(q_values)


LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class Actor(nn.Module):
    """MLP trunk and one linear head giving the mean and log std of u; a = tanh(u) in [-1, 1]."""

    def __init__(self, obs_dim: int, act_dim: int, args: Args):
        super().__init__()
        self.trunk = mlp([obs_dim, *args.hidden_sizes], args.activation, args.layer_norm)
        self.head = nn.Linear(args.hidden_sizes[-1], 2 * act_dim)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.trunk(obs)
        with torch.autocast(obs.device.type, enabled=False):  # the head in float32 under bf16 autocast
            mean, log_std = self.head(hidden.float()).chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        return mean, log_std

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self(obs)
        return squashed_gaussian_sample(mean, log_std, torch.randn_like(mean))


def squashed_gaussian_sample(mean, log_std, noise) -> tuple[torch.Tensor, torch.Tensor]:
    """a = tanh(u), u = mean + exp(log_std) * noise, and log pi(a|s), shapes (B, A) -> (B, A), (B,).

    log pi(a|s) = sum_i [ -noise_i^2 / 2 - log_std_i - log(2 pi) / 2 - log(1 - tanh(u_i)^2) ], with
    the stable form log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)).
    """
    u = mean + log_std.exp() * noise
    per_dim = -0.5 * noise.square() - log_std + 2 * (u + F.softplus(-2 * u))
    constant = mean.shape[-1] * (-0.5 * math.log(2 * math.pi) - 2 * math.log(2))
    return torch.tanh(u), per_dim.sum(-1) + constant


def soft_q_targets(rewards, terminated, next_q_values, next_log_probs, alpha, gamma: float) -> torch.Tensor:
    """Clipped double-Q soft target, shapes rewards/terminated/next_log_probs (B,), next_q_values (2, B):

    y = r + gamma * (1 - terminated) * (min_i Q_targ_i(s', a') - alpha * log pi(a'|s'))
    """
    next_values = next_q_values.min(0).values - alpha * next_log_probs
    return td_targets(rewards, next_values, terminated, gamma)


def critic_loss(q_values: torch.Tensor, q_targets: torch.Tensor) -> torch.Tensor:
    """Sum over the critics of the mean squared TD error; q_values (2, B), q_targets (B,)."""
    return (q_values - q_targets).square().mean(1).sum()


def actor_loss(log_probs: torch.Tensor, q_values: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """E[alpha * log pi(a|s) - min_i Q_i(s, a)] for a ~ pi(.|s); q_values (2, B)."""
    return (alpha * log_probs - q_values.min(0).values).mean()


def alpha_loss(log_alpha: torch.Tensor, log_probs: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """-log(alpha) * (E[log pi] + target_entropy): alpha grows while the entropy is below the target."""
    return -log_alpha * (log_probs.detach().mean() + target_entropy)


def train(args: Args, report=None) -> dict:
    check_args(args)
    check_action_space(args.env_id, gym.spaces.Box, use_instead="algos/sac_discrete.py")
    run = Run(args, report, RESUME_MUST_MATCH)
    device = run.device
    envs = make_envs(args, str(run.dir / "videos"))
    action_space, obs_space = envs.single_action_space, envs.single_observation_space
    obs_dim, act_dim = int(np.prod(obs_space.shape)), int(np.prod(action_space.shape))
    action_scale = ((action_space.high - action_space.low) / 2).astype(np.float32)
    action_bias = ((action_space.high + action_space.low) / 2).astype(np.float32)

    actor = Actor(obs_dim, act_dim, args).to(device)
    qf = TwinQNetwork(obs_dim + act_dim, args).to(device)
    qf_target = TwinQNetwork(obs_dim + act_dim, args).to(device)
    qf_target.load_state_dict(qf.state_dict())
    qf_target.requires_grad_(False)
    target_entropy = -float(act_dim)
    log_alpha = torch.tensor(math.log(args.alpha), device=device, requires_grad=args.autotune)
    fused = dict(fused=True) if device.type in ("cpu", "cuda") else dict(foreach=True)
    q_optimizer = torch.optim.Adam(qf.parameters(), lr=args.q_lr, **fused)
    # The actor and alpha step together: one backward of L_pi + L_alpha, one Adam step (two groups).
    groups = [{"params": actor.parameters(), "lr": args.policy_lr}]
    if args.autotune:
        groups.append({"params": [log_alpha], "lr": args.q_lr})
    actor_optimizer = torch.optim.Adam(groups, **fused)
    online_params, target_params = list(qf.parameters()), list(qf_target.parameters())

    buffer = ReplayBuffer(args.buffer_size, obs_space, (act_dim,), np.float32, device)
    envs.action_space.seed(args.seed)
    next_obs, _ = envs.reset(seed=args.seed)
    global_step, next_obs = run.resume(
        envs,
        next_obs,
        actor=actor,
        qf=qf,
        qf_target=qf_target,
        q_optimizer=q_optimizer,
        actor_optimizer=actor_optimizer,
        log_alpha=log_alpha,
        buffer=buffer,
    )
    updates = run.loop.get("updates", 0)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)

    # The latest [qf_loss, mean Q, policy_loss, entropy], read only when logging (no sync per update).
    stats = torch.zeros(4, device=device)

    def update() -> None:
        """One gradient step of the critics (and, every policy_frequency steps, of actor and alpha)."""
        obs, actions, rewards, next_obs, terminated = buffer.sample(args.batch_size)
        alpha = log_alpha.detach().exp()
        with torch.no_grad(), autocast:
            next_actions, next_log_probs = actor.sample(next_obs)
            next_q_values = qf_target(torch.cat([next_obs, next_actions], 1))
            q_targets = soft_q_targets(rewards, terminated, next_q_values, next_log_probs, alpha, args.gamma)
        with autocast:
            q_values = qf(torch.cat([obs, actions], 1))
        qf_loss = critic_loss(q_values, q_targets)
        q_optimizer.zero_grad(set_to_none=True)
        qf_loss.backward()
        q_optimizer.step()

        if updates % args.policy_frequency == 0:
            qf.requires_grad_(False)  # L_pi's gradient reaches the actor through a, never the critics
            with autocast:
                pi_actions, log_probs = actor.sample(obs)
                q_pi = qf(torch.cat([obs, pi_actions], 1))
            qf.requires_grad_(True)
            pi_loss = actor_loss(log_probs, q_pi, alpha)
            loss = (pi_loss + alpha_loss(log_alpha, log_probs, target_entropy)) if args.autotune else pi_loss
            actor_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            actor_optimizer.step()
            stats[2:] = torch.stack([pi_loss.detach(), -log_probs.detach().mean()])
        if updates % args.target_network_frequency == 0:
            with torch.no_grad():
                torch._foreach_lerp_(target_params, online_params, args.tau)
        stats[:2] = torch.stack([qf_loss.detach(), q_values.detach().mean()])

    while global_step < args.total_timesteps:
        if global_step < args.learning_starts:  # warm-up (a refill after --resume uses the policy)
            actions = (envs.action_space.sample() - action_bias) / action_scale
        else:
            with torch.inference_mode():
                obs = torch.as_tensor(next_obs, dtype=torch.float32, device=device).view(args.num_envs, -1)
                actions = actor.sample(obs)[0].cpu().numpy()
        obs = next_obs
        next_obs, rewards, terminated, truncated, info = envs.step(actions * action_scale + action_bias)
        global_step += args.num_envs
        run.log_episodes(global_step, info)

        buffer.add(obs, real_next_obs(next_obs, info), actions, rewards, terminated)

        if len(buffer) >= args.learning_starts:  # after a --resume without the buffer: once refilled
            for _ in range(args.updates_per_step):
                update()
                updates += 1

        crossed = global_step // args.log_every != (global_step - args.num_envs) // args.log_every
        if crossed or run.stop_signal is not None or global_step >= args.total_timesteps:
            if updates > 0:
                qf_loss, q_mean, pi_loss, entropy = stats.tolist()
                losses = {"qf_loss": qf_loss, "q_values": q_mean, "policy_loss": pi_loss}
                run.check_finite(global_step, losses, actor, qf)
                run.log(
                    global_step,
                    {
                        "losses/qf_loss": qf_loss,
                        "losses/qf_values": q_mean,
                        "losses/policy_loss": pi_loss,
                        "losses/entropy": entropy,
                        "losses/alpha": log_alpha.exp().item(),
                    },
                )
            if run.progress(global_step, f"alpha {log_alpha.exp().item():.3f}", next_obs, updates=updates):
                break
        run.maybe_save(global_step, next_obs, updates=updates)  # --checkpoint-every between log points
    return run.finish(global_step, next_obs, updates=updates)


def policy(state: dict, args: Args, env, greedy: bool):
    """The saved actor as ``act(obs) -> action`` for evaluate.py: tanh(mean), or a sample, in the env's bounds."""
    space = env.action_space
    actor = Actor(int(np.prod(env.observation_space.shape)), int(np.prod(space.shape)), args)
    actor.load_state_dict(state["actor"])
    scale, bias = (space.high - space.low) / 2, (space.high + space.low) / 2

    def act(obs):
        obs = torch.as_tensor(obs, dtype=torch.float32).view(1, -1)
        action = torch.tanh(actor(obs)[0]) if greedy else actor.sample(obs)[0]
        return action[0].numpy() * scale + bias

    return act


if __name__ == "__main__":
    train(cli(Args))
