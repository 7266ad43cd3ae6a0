"""SAC for discrete actions: Christodoulou 2019, "Soft Actor-Critic for Discrete Action Settings".

With a finite action set the policy's expectations are sums, so no sampling and no
reparameterisation are needed: the critics output Q(s, .) for every action, the actor outputs
pi(.|s), and every expectation over actions is exact (eqs. 10-12 of the paper):

    V(s') = sum_a pi(a|s') * (min_i Q_targ_i(s', a) - alpha * log pi(a|s'))
    y = r + gamma * (1 - terminated) * V(s')
    L_Q = sum_i E[(Q_i(s, a) - y)^2]
    L_pi = E_s[ sum_a pi(a|s) * (alpha * log pi(a|s) - min_i Q_i(s, a)) ]
    L_alpha = E_s[ log(alpha) * (H(pi(.|s)) - target_entropy) ],  H = -sum_a pi log pi

log pi comes from one log_softmax (then .exp() gives pi); the entropy H is computed once and shared
by L_pi and L_alpha. target_entropy = ``target_entropy_scale * log|A|``, a fraction of the uniform
policy's entropy log|A| (the largest possible); the paper uses 0.98, CleanRL's sac_atari 0.89.

Deviations: the actor's loss uses the critics' Q(s, .) from the forward pass of the critic loss
(detached, i.e. from just before this step's critic update) instead of a second forward pass after it
(CleanRL's sac_atari recomputes it). The temperature is learned as log(alpha) and its loss uses
log(alpha) and the exact entropy (SB3's convention; CleanRL averages alpha's loss over the actions).
Options, off by default: ``target_entropy_end_scale`` moves the target entropy's scale linearly to a
second value over ``target_entropy_decay_steps`` env steps (explore while the critics know little, then
commit: Acrobot's sparse reward), and ``alpha_min`` floors alpha (log(alpha) learned with Adam falls by
about its learning rate per update while the entropy stays above target, and from alpha ~ 1e-9 it
takes thousands of updates to climb back).
``target_q="mean"`` averages the twin target critics instead of taking their minimum (clipped double Q,
Fujimoto 2018). The minimum is lowest where the critics disagree, on the states they know little about;
the mean leaves those states their optimistic initial value, and the policy seeks them out: the
exploration a sparse reward needs (Acrobot: with the minimum some seeds never reach the goal;
optimism against pessimism: Moskovitz et al. 2021, "Tactical Optimism and Pessimism"). The actor
still maximises the minimum.

Defaults: for CartPole-v1 (1 env, one update of 64 per env step, 2x64 nets, target entropy 0.5 log|A|):
493.4 at 200k steps (mean of seeds 1-4; docs/BENCHMARKS.md). The paper's 0.98 log|A| asks, with 2
actions, for about p = (0.57, 0.43) on average, nearly uniform, so the temperature keeps pushing the
policy away from committing; 0.5 (about p = (0.89, 0.11)) still explores but lets the policy commit
where the task needs it (CartPole must act decisively near its limits).
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh classic --print-jobs --rerun --seeds 1 --algos sac_discrete --envs Acrobot``.

Speed: both critics are one module whose layer weights are stacked to shape (2, in, out), so twin Q
is one batched matmul (torch.baddbmm) per layer.
The actor and temperature losses share one backward pass and one Adam step; the target update is one
in-place torch._foreach_lerp_.

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``; the buffer stores it as next_obs and only ``terminated`` zeroes
the bootstrap, so a truncated transition bootstraps from V(final obs).
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
from common.errors import fail
from common.replay import ReplayBuffer, real_next_obs
from common.returns import td_targets
from common.runs import Run


@dataclass
class Args:
    exp_name: str = "sac_discrete"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "CartPole-v1"
    """Gymnasium id of an env with a discrete action space"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 200_000
    """env steps to train for, summed over the parallel envs"""
    num_envs: int = 1
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """sync steps envs in this process (fastest on few cores); async uses one process per env"""
    buffer_size: int = 100_000
    """replay buffer capacity (transitions)"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 0.005
    """Polyak coefficient of the target critics: targ <- (1 - tau) targ + tau online"""
    batch_size: int = 64
    """transitions per gradient update"""
    learning_starts: int = 1_000
    """env steps of uniformly random actions before the first update"""
    updates_per_step: int = 1
    """gradient updates per vector-env step"""
    policy_lr: float = 3e-4
    """Adam learning rate of the actor"""
    q_lr: float = 3e-4
    """Adam learning rate of the critics and of the temperature"""
    target_network_frequency: int = 1
    """Polyak-update the target critics once every this many critic updates"""
    alpha: float = 0.2
    """entropy temperature (the initial value when autotune is on)"""
    autotune: bool = True
    """learn alpha towards the target entropy"""
    target_entropy_scale: float = 0.5
    """target entropy = this * log(number of actions) (the uniform policy's entropy)"""
    target_entropy_end_scale: float | None = None
    """if set, the target entropy's scale moves linearly from target_entropy_scale to this value over
    target_entropy_decay_steps env steps, then stays (explore first, commit later); None: constant"""
    target_entropy_decay_steps: int = 100_000
    """env steps of the target entropy's linear decay (with target_entropy_end_scale)"""
    alpha_min: float = 0.0
    """lower bound of the learned alpha (log alpha is clamped after each step); 0: none"""
    target_q: Literal["min", "mean"] = "min"
    """how the twin target critics combine in the soft target: min (clipped double Q) or mean (optimistic)"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer widths of the actor and of each critic"""
    activation: Literal["relu", "tanh"] = "relu"
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
    log_every: int = 1_000
    """log losses, SPS and the curve every this many env steps"""
    save_model: bool = False
    """write a checkpoint at the end of training"""
    checkpoint_every: int = 0
    """also write a checkpoint every this many env steps, at the first log point past each multiple (0: never)"""
    checkpoint_buffer: Literal["auto", "on", "off"] = "auto"
    """put the replay buffer into checkpoints for an exact resume (auto: where its arrays take <= 2 GiB);
    without it a resumed run refills it with the current policy before updating again"""
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
    """``num_critics`` independent MLP critics stored as one: layer l holds the weights of every
    critic stacked as (num_critics, in, out), so all critics run as one batched matmul per layer:
    h_l = act(baddbmm(b_l, h_{l-1}, W_l)). Input (B, in); output (num_critics, B, out).
    Initialised like nn.Linear: W, b ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_dim: int, out_dim: int, args: Args, num_critics: int = 2):
        super().__init__()
        sizes = [in_dim, *args.hidden_sizes, out_dim]
        self.num_critics, self.layer_norm = num_critics, args.layer_norm
        self.activation = {"relu": F.relu, "tanh": torch.tanh}[args.activation]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        self.norm_weights, self.norm_biases = nn.ParameterList(), nn.ParameterList()
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = 1 / math.sqrt(n_in)
            self.weights.append(nn.Parameter(torch.empty(num_critics, n_in, n_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(num_critics, 1, n_out).uniform_(-bound, bound)))
            if args.layer_norm and i < len(sizes) - 2:
                self.norm_weights.append(nn.Parameter(torch.ones(num_critics, 1, n_out)))
                self.norm_biases.append(nn.Parameter(torch.zeros(num_critics, 1, n_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.expand(self.num_critics, *x.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                if self.layer_norm:
                    h = F.layer_norm(h, h.shape[-1:]) * self.norm_weights[i] + self.norm_biases[i]
                h = self.activation(h)
        return h


class Actor(nn.Module):
    """MLP trunk and a linear head giving the logits of pi(.|s)."""

    def __init__(self, obs_dim: int, n_actions: int, args: Args):
        super().__init__()
        self.trunk = mlp([obs_dim, *args.hidden_sizes], args.activation, args.layer_norm)
        self.head = nn.Linear(args.hidden_sizes[-1], n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """log pi(.|s), shape (B, |A|): one log_softmax; pi is its .exp()."""
        return torch.log_softmax(self.head(self.trunk(obs)), dim=-1)


def soft_q_targets(
    rewards, terminated, next_q_values, next_log_probs, alpha, gamma: float, target_q: str = "min"
) -> torch.Tensor:
    """Exact soft target, shapes rewards/terminated (B,), next_q_values (2, B, |A|), next_log_probs (B, |A|):

    y = r + gamma * (1 - terminated) * sum_a pi(a|s') (min_i Q_targ_i(s', a) - alpha * log pi(a|s'))
    (with ``target_q="mean"``, mean_i in place of min_i)
    """
    next_q = next_q_values.min(0).values if target_q == "min" else next_q_values.mean(0)
    next_values = (next_log_probs.exp() * (next_q - alpha * next_log_probs)).sum(-1)
    return td_targets(rewards, next_values, terminated, gamma)


def target_entropy_at(step: int, args: Args, n_actions: int) -> float:
    """target_entropy_scale * log|A|, or with target_entropy_end_scale set the linear decay
    scale(step) = start + min(step / target_entropy_decay_steps, 1) * (end - start), times log|A|."""
    scale = args.target_entropy_scale
    if args.target_entropy_end_scale is not None:
        fraction = min(step / max(args.target_entropy_decay_steps, 1), 1.0)
        scale += fraction * (args.target_entropy_end_scale - scale)
    return scale * math.log(n_actions)


def critic_loss(q_values: torch.Tensor, actions: torch.Tensor, q_targets: torch.Tensor) -> torch.Tensor:
    """Sum over the critics of the mean squared TD error of the actions taken.

    q_values (2, B, |A|), actions (B,) int64, q_targets (B,).
    """
    q_taken = q_values.gather(2, actions.view(1, -1, 1).expand(q_values.shape[0], -1, 1)).squeeze(2)
    return (q_taken - q_targets).square().mean(1).sum()


def policy_losses(log_probs, q_values, log_alpha, target_entropy: float) -> tuple[torch.Tensor, ...]:
    """Actor and temperature losses sharing one entropy; log_probs (B, |A|), q_values (2, B, |A|) detached.

    L_pi = E_s[ sum_a pi(a|s) (-min_i Q_i(s, a)) - alpha * H(s) ]
    L_alpha = log(alpha) * (E_s[H(s)] - target_entropy)
    Returns (L_pi, L_alpha, mean entropy).
    """
    probs = log_probs.exp()
    entropy = -(probs * log_probs).sum(-1).mean()
    alpha = log_alpha.detach().exp()
    pi_loss = -(probs * q_values.min(0).values).sum(-1).mean() - alpha * entropy
    return pi_loss, log_alpha * (entropy.detach() - target_entropy), entropy.detach()


def train(args: Args, report=None) -> dict:
    check_args(args)
    if args.autotune and args.alpha < args.alpha_min:
        fail(f"--alpha-min {args.alpha_min} must be >= 0 and at most the initial --alpha {args.alpha}")
    check_action_space(args.env_id, gym.spaces.Discrete, use_instead="algos/sac_continuous.py")
    run = Run(args, report, RESUME_MUST_MATCH)
    device = run.device
    envs = make_envs(args, str(run.dir / "videos"))
    action_space, obs_space = envs.single_action_space, envs.single_observation_space
    obs_dim, n_actions = int(np.prod(obs_space.shape)), int(action_space.n)

    actor = Actor(obs_dim, n_actions, args).to(device)
    qf = TwinQNetwork(obs_dim, n_actions, args).to(device)
    qf_target = TwinQNetwork(obs_dim, n_actions, args).to(device)
    qf_target.load_state_dict(qf.state_dict())
    qf_target.requires_grad_(False)
    target_entropy = target_entropy_at(0, args, n_actions)
    log_alpha_min = math.log(args.alpha_min) if args.alpha_min > 0 else None
    log_alpha = torch.tensor(math.log(args.alpha), device=device, requires_grad=args.autotune)
    fused = dict(fused=True) if device.type in ("cpu", "cuda") else dict(foreach=True)
    q_optimizer = torch.optim.Adam(qf.parameters(), lr=args.q_lr, **fused)
    # The actor and alpha step together: one backward of L_pi + L_alpha, one Adam step (two groups).
    groups = [{"params": actor.parameters(), "lr": args.policy_lr}]
    if args.autotune:
        groups.append({"params": [log_alpha], "lr": args.q_lr})
    actor_optimizer = torch.optim.Adam(groups, **fused)
    online_params, target_params = list(qf.parameters()), list(qf_target.parameters())

    buffer = ReplayBuffer(args.buffer_size, obs_space, (), np.int64, device)
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

    # The latest [qf_loss, mean Q, policy_loss, entropy], read only when logging (no sync per update).
    stats = torch.zeros(4, device=device)

    def update() -> None:
        """One gradient step of the critics, the actor and alpha."""
        nonlocal target_entropy
        obs, actions, rewards, next_obs, terminated = buffer.sample(args.batch_size)
        with torch.no_grad():
            next_q_values = qf_target(next_obs)
            alpha = log_alpha.exp()
            q_targets = soft_q_targets(
                rewards, terminated, next_q_values, actor(next_obs), alpha, args.gamma, args.target_q
            )
        q_values = qf(obs)
        qf_loss = critic_loss(q_values, actions, q_targets)
        q_optimizer.zero_grad(set_to_none=True)
        qf_loss.backward()
        q_optimizer.step()

        if args.target_entropy_end_scale is not None:
            target_entropy = target_entropy_at(global_step, args, n_actions)
        pi_loss, temperature_loss, entropy = policy_losses(
            actor(obs), q_values.detach(), log_alpha, target_entropy
        )
        actor_optimizer.zero_grad(set_to_none=True)
        (pi_loss + temperature_loss if args.autotune else pi_loss).backward()
        actor_optimizer.step()
        if log_alpha_min is not None and args.autotune:
            with torch.no_grad():
                log_alpha.clamp_(min=log_alpha_min)
        stats[2:] = torch.stack([pi_loss.detach(), entropy])
        if updates % args.target_network_frequency == 0:
            with torch.no_grad():
                torch._foreach_lerp_(target_params, online_params, args.tau)
        stats[:2] = torch.stack([qf_loss.detach(), q_values.detach().mean()])

    while global_step < args.total_timesteps:
        if global_step < args.learning_starts:  # warm-up (a refill after --resume uses the policy)
            actions = envs.action_space.sample()
        else:
            with torch.inference_mode():
                obs = torch.as_tensor(next_obs, dtype=torch.float32, device=device).view(args.num_envs, -1)
                log_probs = actor(obs)
                actions = torch.multinomial(log_probs.exp(), 1).squeeze(1).cpu().numpy()
        obs = next_obs
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
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
                        "losses/target_entropy": target_entropy,
                    },
                )
            if run.progress(global_step, f"alpha {log_alpha.exp().item():.3f}", next_obs, updates=updates):
                break
        run.maybe_save(global_step, next_obs, updates=updates)  # --checkpoint-every between log points
    return run.finish(global_step, next_obs, updates=updates)


def policy(state: dict, args: Args, env, greedy: bool):
    """The saved actor as ``act(obs) -> action`` for evaluate.py: the argmax action, or a sampled one."""
    actor = Actor(int(np.prod(env.observation_space.shape)), int(env.action_space.n), args)
    actor.load_state_dict(state["actor"])

    def act(obs):
        log_probs = actor(torch.as_tensor(obs, dtype=torch.float32).view(1, -1))
        return int(log_probs.argmax() if greedy else torch.multinomial(log_probs.exp(), 1))

    return act


if __name__ == "__main__":
    train(cli(Args))
