"""SAC for Atari: Christodoulou 2019, "Soft Actor-Critic for Discrete Action Settings", from pixels.

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

Defaults: CleanRL's sac_atari.py (a Nature-CNN encoder, Mnih et al. 2015, in the actor and in each critic;
1M replay, batch 64, learning from 20k steps, an update every 4 steps, target critics copied every 8000
steps, target entropy 0.89 * log|A|), 5M steps.
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh atari --print-jobs --rerun --seeds 1 --algos sac_atari --envs Pong``.

Speed: each critic is its own Nature CNN (as in CleanRL), run one after the other.
The actor and temperature losses share one backward pass and one Adam step; the target update is one
in-place torch._foreach_lerp_.

The env is ``ALE/<Game>-v5`` from common/atari.py (its docstring: what each setting does to the scores):
the logged return is the raw score of a whole game, the learner sees sign(r). One step = 4 frames.

Replay memory: ``FrameReplayBuffer`` (common/replay.py, as in dqn_atari.py) stores each 84x84 frame once:
~7.07 KB a transition, ~7.1 GB for 1M. ``--checkpoint-buffer auto`` saves it only up to 2 GiB (~300k
frames): a run resumed without it refills ``learning_starts`` transitions with its current policy (not
random play) before it learns again. Either way it starts new games (ALE envs cannot be saved mid-game).

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``; the buffer stores it as next_obs and only ``terminated`` zeroes
the bootstrap, so a truncated transition bootstraps from V(final obs). The frame replay stores its
newest frame; no transition and no stack spans a reset.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.atari import AtariEnvArgs, check_atari, make_envs
from common.checks import check_args
from common.cli import cli
from common.errors import fail
from common.replay import FrameReplayBuffer
from common.returns import td_targets
from common.runs import Run


@dataclass
class Args(AtariEnvArgs):
    exp_name: str = "sac_atari"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "ALE/Breakout-v5"
    """ALE id (``ALE/<Game>-v5``)"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 5_000_000
    """env steps to train for, summed over the parallel envs (1 step = 4 frames)"""
    num_envs: int = 1
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """gymnasium engine: sync steps envs in this process (fastest on few cores); async uses one process per env"""
    buffer_size: int = 1_000_000
    """replay capacity in frames (~7.07 KB each; one transition per frame except at episode starts)"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 1.0
    """target critics: targ <- (1 - tau) targ + tau online; 1 copies (hard update)"""
    batch_size: int = 64
    """transitions per gradient update"""
    learning_starts: int = 20_000
    """env steps of uniformly random actions before the first update"""
    update_frequency: int = 4
    """env steps between gradient updates"""
    policy_lr: float = 3e-4
    """Adam learning rate of the actor"""
    q_lr: float = 3e-4
    """Adam learning rate of the critics and of the temperature"""
    target_network_frequency: int = 8000
    """env steps between target critic updates"""
    alpha: float = 0.2
    """entropy temperature (the initial value when autotune is on)"""
    autotune: bool = True
    """learn alpha towards the target entropy"""
    target_entropy_scale: float = 0.89
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
    hidden_sizes: tuple[int, ...] = (512,)
    """widths of the dense layers after each Nature CNN's convolutions"""
    activation: Literal["relu", "tanh"] = "relu"
    """activation of the hidden layers"""
    layer_norm: bool = False
    """LayerNorm after each hidden linear layer"""
    bf16: bool = False
    """run the CNN trunk in bfloat16 (autocast; the output layers (logits, Q values) stay float32): needs a CPU
    that multiplies bf16 natively (AVX512-BF16, AMX) or an Ampere+ GPU. Measured faster on an AMD EPYC
    (Zen 4: ppo_atari ~1.4x the steps/s); on an Intel Xeon without AMX a bf16 SAC update was 1.34x slower.
    Scores untested at scale"""
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


def nature_cnn(hidden_sizes, activation: str, layer_norm: bool) -> nn.Sequential:
    """Mnih et al. 2015: (N, 4, 84, 84) in [0, 1] -> conv 32x8s4, 64x4s2, 64x3s1 -> dense layers."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers = [
        nn.Conv2d(4, 32, 8, stride=4),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1),
        nn.ReLU(),
        nn.Flatten(),
    ]
    for n_in, n_out in zip([64 * 7 * 7, *hidden_sizes[:-1]], hidden_sizes):
        layers.append(nn.Linear(n_in, n_out))
        layers += [nn.LayerNorm(n_out), act()] if layer_norm else [act()]
    # channels_last (NHWC) conv weights: oneDNN's CPU kernels run this layout faster, same math; the
    # (N, 4, 84, 84) input may stay NCHW, the first conv converts it.
    return nn.Sequential(*layers).to(memory_format=torch.channels_last)


class CNNHead(nn.Module):
    """uint8 frames (N, 4, 84, 84), scaled to [0, 1] here, on the device -> one output per action.
    The actor (logits of pi(.|s)) and each critic (Q(s, .)) are one of these."""

    def __init__(self, n_actions: int, args: Args):
        super().__init__()
        self.net = nn.Sequential(
            nature_cnn(args.hidden_sizes, args.activation, args.layer_norm),
            nn.Linear(args.hidden_sizes[-1], n_actions),
        )
        self.bf16 = args.bf16

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(obs.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            hidden = self.net[0](obs.float() / 255.0)  # the Nature CNN trunk
        return self.net[1](hidden.float())  # the output layer in float32: Q needs more than bf16's ~3 digits


class TwinQNetwork(nn.Module):
    """``num_critics`` independent CNN critics. Input (B, 4, 84, 84) uint8; output (num_critics, B, |A|)."""

    def __init__(self, n_actions: int, args: Args, num_critics: int = 2):
        super().__init__()
        self.critics = nn.ModuleList(CNNHead(n_actions, args) for _ in range(num_critics))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([critic(x) for critic in self.critics])


class Actor(CNNHead):
    """Nature CNN and a linear head giving the logits of pi(.|s)."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """log pi(.|s), shape (B, |A|): one log_softmax; pi is its .exp()."""
        return torch.log_softmax(super().forward(obs), dim=-1)


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
    check_atari(args, use_instead="algos/sac_discrete.py")
    run = Run(args, report, RESUME_MUST_MATCH)
    device = run.device
    rng = np.random.default_rng(args.seed)
    envs = make_envs(args, str(run.dir / "videos"))
    n_actions = int(envs.single_action_space.n)

    actor = Actor(n_actions, args).to(device)
    qf = TwinQNetwork(n_actions, args).to(device)
    qf_target = TwinQNetwork(n_actions, args).to(device)
    qf_target.load_state_dict(qf.state_dict())
    qf_target.requires_grad_(False)
    target_entropy = target_entropy_at(0, args, n_actions)
    log_alpha_min = math.log(args.alpha_min) if args.alpha_min > 0 else None
    log_alpha = torch.tensor(math.log(args.alpha), device=device, requires_grad=args.autotune)
    q_optimizer = torch.optim.Adam(qf.parameters(), lr=args.q_lr, eps=1e-4, foreach=True)
    # The actor and alpha step together: one backward of L_pi + L_alpha, one Adam step (two groups).
    groups = [{"params": actor.parameters(), "lr": args.policy_lr}]
    if args.autotune:
        groups.append({"params": [log_alpha], "lr": args.q_lr})
    actor_optimizer = torch.optim.Adam(groups, eps=1e-4, foreach=True)
    online_params, target_params = list(qf.parameters()), list(qf_target.parameters())

    buffer = FrameReplayBuffer(args.buffer_size, args.num_envs, envs.single_observation_space.shape, device)
    next_obs, info = envs.reset(seed=args.seed)
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
        buffer_rng=rng,
    )
    updates = run.loop.get("updates", 0)
    # ALE envs cannot be saved mid-game: a resumed run starts new games (episode starts in the buffer);
    # without its buffer, it refills learning_starts transitions with the current policy first.
    updates_from = args.learning_starts + (global_step if global_step and not buffer.filled.any() else 0)
    buffer.start(next_obs)

    # The latest [qf_loss, mean Q, policy_loss, entropy], read only when logging (no sync per update).
    stats = torch.zeros(4, device=device)

    def update() -> None:
        """One gradient step of the critics, the actor and alpha."""
        nonlocal target_entropy
        obs, actions, rewards, next_obs, terminated = buffer.sample(args.batch_size, rng)
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
        stats[:2] = torch.stack([qf_loss.detach(), q_values.detach().mean()])

    while global_step < args.total_timesteps:
        if global_step < args.learning_starts:  # warm-up (a refill after --resume uses the policy)
            actions = rng.integers(0, n_actions, size=args.num_envs)
        else:
            with torch.inference_mode():
                log_probs = actor(torch.as_tensor(next_obs, device=device))
                actions = torch.multinomial(log_probs.exp(), 1).squeeze(1).cpu().numpy()
        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        global_step += args.num_envs
        run.log_episodes(global_step, info)

        # Easy to overlook: for an ended episode next_obs is already the reset observation (SAME_STEP);
        # the transition must end in the real final observation, so that truncation bootstraps from it.
        ended = terminated | truncated
        if args.terminal_on_life_loss:  # a lost life is terminal for learning only: the game goes on
            ended &= ~info["life_lost"]
        buffer.add(actions, rewards, terminated, next_obs, ended, info.get("final_obs"))

        if global_step >= updates_from:  # an update every update_frequency env steps
            previous = global_step - args.num_envs
            for _ in range(global_step // args.update_frequency - previous // args.update_frequency):
                update()
                updates += 1
            if global_step // args.target_network_frequency != previous // args.target_network_frequency:
                with torch.no_grad():
                    torch._foreach_lerp_(target_params, online_params, args.tau)  # tau = 1: a copy

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
    actor = Actor(int(env.action_space.n), args)
    actor.load_state_dict(state["actor"])

    def act(obs):
        log_probs = actor(torch.as_tensor(obs).unsqueeze(0))
        return int(log_probs.argmax() if greedy else torch.multinomial(log_probs.exp(), 1))

    return act


if __name__ == "__main__":
    train(cli(Args))
