"""DQN for Atari: Mnih et al. 2015, "Human-level control through deep reinforcement learning" (Nature).
``--double`` (on by default): Double DQN, van Hasselt, Guez, Silver 2016, "Deep RL with Double Q-learning".

The Q-network minimises the Huber loss between Q(s, a) and a target computed with a target
network Q' (weights theta^-) from transitions sampled uniformly from a replay buffer:

    DQN:         y = r + gamma * (1 - terminated) * max_a' Q'(s', a')
    Double DQN:  y = r + gamma * (1 - terminated) * Q'(s', argmax_a' Q(s', a'))

Actions are epsilon-greedy with epsilon decayed linearly from ``start_e`` to ``end_e`` over
``exploration_fraction * total_timesteps`` steps. The target network is copied every
``target_network_frequency`` env steps (``tau=1``, the paper) or moved towards the online network
by Polyak averaging ``theta^- <- (1 - tau) theta^- + tau theta`` (in place, ``lerp_``).
``--per``: proportional prioritized replay (Schaul et al. 2016, on ``common/sumtree.py``): transition i
is drawn with P(i) = p_i^alpha / sum_k p_k^alpha, p_i = |delta_i| + eps, and its loss scaled by
w_i = (N P(i))^-beta / max_j w_j, beta annealed linearly to 1 (algos/dqn_per.py says more).

Deviations from the paper: gradients clipped at global norm ``max_grad_norm`` = 10; Adam
instead of RMSProp; target updates and training frequency count env steps summed over the envs.

Defaults: CleanRL's dqn_atari.py (10M steps, 1M replay, learning from 80k steps, one update of 32 every
4 steps, Adam 1e-4).
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh atari --print-jobs --rerun --seeds 1 --algos dqn_atari --envs Pong``.

The env is ``ALE/<Game>-v5`` from common/atari.py (its docstring: what each setting does to the scores):
the logged return is the raw score of a whole game, the learner sees sign(r). One step = 4 frames.

Replay memory: each 84x84 frame is stored once and stacks are rebuilt from indices (see
``FrameReplayBuffer``): ~7.07 KB per transition, ~7.1 GB for the default 1M (measured: 7.08 GB
resident for a full 1M buffer). ``--checkpoint-buffer auto`` puts it into checkpoints only up to
2 GiB (~300k frames), so not the default 1M: a run resumed without it refills ``learning_starts``
transitions with its current epsilon-greedy policy before it learns again; ``--checkpoint-buffer on``
saves it (and the PER priorities). Either way a resumed run starts new games (ALE envs cannot be
saved mid-game).

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``; the buffer stores its frame as next frame and only ``terminated``
zeroes the bootstrap, so a truncated game bootstraps from Q'(final observation). No transition and no
stack spans a reset.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.atari import AtariEnvArgs, check_atari, make_envs
from common.checks import check_args
from common.cli import cli
from common.replay import FrameReplayBuffer
from common.returns import td_targets
from common.runs import Run
from common.sumtree import SumTree, importance_weights


@dataclass
class Args(AtariEnvArgs):
    exp_name: str = "dqn_atari"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "ALE/Breakout-v5"
    """ALE id (``ALE/<Game>-v5``)"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 10_000_000
    """env steps to train for, summed over the parallel envs (1 step = 4 frames)"""
    num_envs: int = 1
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """gymnasium engine: sync steps envs in this process (fastest on few cores); async uses one process per env"""
    double: bool = True
    """Double DQN: the online network picks the next action, the target network evaluates it"""
    per: bool = False
    """proportional prioritized replay (Schaul et al. 2016)"""
    per_alpha: float = 0.6
    """PER: priority exponent alpha"""
    per_beta: float = 0.4
    """PER: importance-sampling exponent beta at the start (annealed linearly to 1)"""
    per_eps: float = 1e-6
    """PER: added to |TD error| so that no priority is 0"""
    learning_rate: float = 1e-4
    """Adam learning rate"""
    buffer_size: int = 1_000_000
    """replay capacity in frames (~7.07 KB each; one transition per frame except at episode starts)"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 1.0
    """target network update rate: 1 copies (hard update), < 1 is Polyak averaging"""
    target_network_frequency: int = 1000
    """env steps between target network updates"""
    batch_size: int = 32
    """transitions per gradient step"""
    huber_delta: float = 1.0
    """TD errors beyond this are penalised linearly (Huber loss); the paper's 1 suits rewards clipped to [-1, 1]"""
    start_e: float = 1.0
    """epsilon at the start"""
    end_e: float = 0.01
    """epsilon after the decay"""
    exploration_fraction: float = 0.10
    """fraction of total_timesteps over which epsilon decays linearly"""
    learning_starts: int = 80_000
    """env steps before learning starts (after a --resume without a saved buffer: steps refilling it)"""
    train_frequency: int = 4
    """env steps between training phases"""
    gradient_steps: int = 1
    """gradient steps per training phase"""
    max_grad_norm: float = 10.0
    """global gradient-norm clip (0: none)"""
    hidden_sizes: tuple[int, ...] = (512,)
    """widths of the dense layers after the Nature CNN's convolutions"""
    activation: Literal["relu", "tanh"] = "relu"
    """activation of the hidden layers"""
    layer_norm: bool = False
    """LayerNorm after each hidden linear layer"""
    bf16: bool = False
    """run the CNN trunk in bfloat16 (autocast; the Q head stays float32): needs a CPU
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
    save_model: bool = False
    """write a checkpoint at the end of training"""
    checkpoint_every: int = 0
    """also write a checkpoint every this many env steps (0: never)"""
    checkpoint_buffer: Literal["auto", "on", "off"] = "auto"
    """put the replay buffer into checkpoints for an exact resume (auto: where its arrays take <= 2 GiB, i.e.
    up to ~300k frames: not the default 1M, ~6.6 GiB); without it a resumed run refills it with the current
    policy before updating again"""
    resume: str | None = None
    """path of a checkpoint to continue training from"""
    runs_dir: str = "runs"
    """folder of the run folders"""


# Arguments that shape the saved state: a resumed run must use the checkpoint's values.
RESUME_MUST_MATCH = ("env_id", "num_envs", "hidden_sizes", "activation", "layer_norm", "buffer_size")
RESUME_MUST_MATCH += ("per", "per_alpha")  # the priorities p^alpha


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


class QNetwork(nn.Module):
    """Q(s, .) from uint8 frames (N, 4, 84, 84), scaled to [0, 1] here, on the device."""

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


def linear_schedule(start: float, end: float, duration: float, t: int) -> float:
    return end if t >= duration else start + (end - start) * t / duration


def compute_loss(q_network, target_network, batch, weights, args: Args):
    """Huber TD loss on one batch, each term scaled by ``weights`` (B,) (PER's importance weights,
    or None); returns (loss, td_errors (B,), q_values (B,))."""
    obs, actions, rewards, next_obs, terminated = batch
    with torch.no_grad():
        next_q_target = target_network(next_obs)
        if args.double:
            next_actions = q_network(next_obs).argmax(1, keepdim=True)
            next_q = next_q_target.gather(1, next_actions).squeeze(1)
        else:
            next_q = next_q_target.max(1).values
        # y = r + gamma * (1 - terminated) * Q'(s', a*)
        q_targets = td_targets(rewards, next_q, terminated, args.gamma)
    q_values = q_network(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
    if weights is None:
        loss = F.huber_loss(q_values, q_targets, delta=args.huber_delta)
    else:
        loss = (weights * F.huber_loss(q_values, q_targets, reduction="none", delta=args.huber_delta)).mean()
    return loss, (q_values - q_targets).detach(), q_values.detach()


def train(args: Args, report=None) -> dict:
    check_args(args)
    check_atari(args, use_instead="algos/dqn.py")
    run = Run(args, report, RESUME_MUST_MATCH)
    device = run.device
    rng = np.random.default_rng(args.seed)
    envs = make_envs(args, str(run.dir / "videos"))
    obs_shape, n_actions = envs.single_observation_space.shape, int(envs.single_action_space.n)

    q_network = QNetwork(n_actions, args).to(device)
    target_network = QNetwork(n_actions, args).to(device)
    target_network.load_state_dict(q_network.state_dict())
    optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate, foreach=True)
    buffer = FrameReplayBuffer(args.buffer_size, args.num_envs, obs_shape, device)
    tree = SumTree(buffer.num_envs * buffer.slots) if args.per else None
    obs, info = envs.reset(seed=args.seed)
    networks = {"q_network": q_network, "target_network": target_network}
    global_step, obs = run.resume(
        envs, obs, **networks, optimizer=optimizer, buffer_rng=rng, buffer=(buffer, tree) if tree else buffer
    )
    # Without a saved buffer the current policy refills learning_starts steps of it before updates.
    updates_from = args.learning_starts if buffer.filled.any() else global_step + args.learning_starts

    def store(changed: np.ndarray) -> None:
        """New transitions get the largest priority so far; slots that hold none get 0."""
        if tree is not None:
            tree.update(changed, np.where(buffer.valid.flat[changed], tree.max_priority, 0.0))

    store(buffer.start(obs))  # (a saved buffer's last episode just ends there)

    n = args.num_envs
    exploration_steps, stats = args.exploration_fraction * args.total_timesteps, []
    for step in range(global_step // n, args.total_timesteps // n):
        epsilon = linear_schedule(args.start_e, args.end_e, exploration_steps, global_step)
        global_step += n
        actions = rng.integers(0, n_actions, size=n)
        greedy = rng.random(n) >= epsilon
        if greedy.any():  # no forward pass while every env explores
            with torch.inference_mode():
                q = q_network(torch.as_tensor(obs, device=device)).cpu().numpy()
            actions = np.where(greedy, q.argmax(1), actions)

        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        ended = terminated | truncated
        if args.terminal_on_life_loss:  # a lost life is terminal for learning only: the game goes on
            ended &= ~info["life_lost"]
        store(buffer.add(actions, rewards, terminated, next_obs, ended, info.get("final_obs")))
        run.log_episodes(global_step, info)
        obs = next_obs

        if global_step >= updates_from:
            tf = args.train_frequency
            for _ in range((global_step // tf - (global_step - n) // tf) * args.gradient_steps):
                if tree is None:
                    idx, weights = buffer.sample_indices(args.batch_size, rng), None
                else:
                    idx, priorities = tree.sample(args.batch_size, rng)
                    beta = linear_schedule(args.per_beta, 1.0, args.total_timesteps, global_step)
                    weights = importance_weights(priorities, tree.total, int(buffer.valid.sum()), beta)
                    weights = torch.as_tensor(weights, dtype=torch.float32, device=device)
                batch = buffer.get(idx)
                loss, td_errors, q_values = compute_loss(q_network, target_network, batch, weights, args)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if args.max_grad_norm > 0:
                    nn.utils.clip_grad_norm_(q_network.parameters(), args.max_grad_norm, foreach=True)
                optimizer.step()
                if tree is not None:
                    tree.update(idx, (td_errors.abs().cpu().numpy() + args.per_eps) ** args.per_alpha)
                stats.append(torch.stack([loss.detach(), q_values.mean()]))
                if len(stats) == 100:
                    td_loss, mean_q = torch.stack(stats).mean(0).tolist()
                    stats.clear()
                    run.check_finite(global_step, {"td_loss": td_loss}, q_network)
                    run.log(global_step, {"losses/td_loss": td_loss, "losses/q_values": mean_q})
            tnf = args.target_network_frequency
            if global_step // tnf != (global_step - n) // tnf:  # theta^- <- theta^- + tau (theta - theta^-)
                with torch.no_grad():  # tau = 1: lerp_ copies exactly (end - diff * 0)
                    for target_param, param in zip(target_network.parameters(), q_network.parameters()):
                        target_param.lerp_(param, args.tau)

        run.maybe_save(global_step, obs)  # at --checkpoint-every
        if step % max(1, 1000 // n) == 0 or step == args.total_timesteps // n - 1:  # progress, report
            run.log(global_step, {"charts/epsilon": epsilon})
            if run.progress(global_step, f"epsilon {epsilon:.3f}", obs):
                break
    return run.finish(global_step, obs)


def policy(state: dict, args: Args, env, greedy: bool):
    """The saved Q-network as ``act(obs) -> action`` for evaluate.py: argmax_a Q(s, a), or epsilon-greedy
    with the final ``end_e``."""
    q_network = QNetwork(int(env.action_space.n), args)
    q_network.load_state_dict(state["q_network"])

    def act(obs):
        if not greedy and torch.rand(()) < args.end_e:
            return int(torch.randint(int(env.action_space.n), ()))
        return int(q_network(torch.as_tensor(obs).unsqueeze(0)).argmax())

    return act


if __name__ == "__main__":
    train(cli(Args))
