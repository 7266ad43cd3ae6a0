"""DQN with prioritized replay: Schaul, Quan, Antonoglou, Silver 2016, "Prioritized Experience Replay".
``--double`` (on by default): Double DQN, van Hasselt, Guez, Silver 2016, "Deep RL with Double Q-learning".

The Q-network minimises the Huber loss between Q(s, a) and a target computed with a target
network Q' (weights theta^-) from transitions sampled by priority from a replay buffer:

    DQN:         y = r + gamma * (1 - terminated) * max_a' Q'(s', a')
    Double DQN:  y = r + gamma * (1 - terminated) * Q'(s', argmax_a' Q(s', a'))

Actions are epsilon-greedy with epsilon decayed linearly from ``start_e`` to ``end_e`` over
``exploration_fraction * total_timesteps`` steps. The target network is copied every
``target_network_frequency`` env steps (``tau=1``, the paper) or moved towards the online network
by Polyak averaging ``theta^- <- (1 - tau) theta^- + tau theta`` (in place, ``lerp_``).
Proportional prioritized replay (ICLR 2016): transition i is replayed with probability P(i)
and its loss scaled by an importance-sampling weight w_i:

    P(i) = p_i^alpha / sum_k p_k^alpha,   p_i = |delta_i| + eps,   delta_i = y_i - Q(s_i, a_i)
    w_i  = (N * P(i))^-beta / max_j w_j,  beta annealed linearly from beta_start to 1
    loss = mean_i w_i * Huber(delta_i)

New transitions get the largest priority seen so far; sampled ones get p_i from their new TD
error. ``PrioritizedReplayBuffer`` (common/replay.py, on a sum tree) samples and updates a whole batch
at once, stratified into ``batch_size`` equal segments of the total priority (the paper's Algorithm 1).

Deviations from the paper: vector observations and an MLP instead of frames and a CNN; Adam
instead of RMSProp; target updates and training frequency count env steps summed over the envs.
The Huber loss (the paper's clipped error term) is quadratic up to ``huber_delta`` = 10, not 1: the
paper clips rewards to [-1, 1], we do not, and with returns near 100 (CartPole, LunarLander) a
threshold of 1 makes the fit a median that all but ignores the rare terminal transitions; Q then
diverged (to ~2e5 on CartPole within 120k steps) in our runs, while 10 behaves like the squared error of CleanRL's dqn.py.

Option, off by default: ``--n-step m`` learns from m-step transitions (Sutton & Barto 2018, eq. 7.1;
one of Rainbow's parts, Hessel et al. 2018): r_i becomes R_i = sum_{k<m} gamma^k r_{i+k} and gamma
becomes gamma^m in y_i, with Q' taken m steps later; an episode's end cuts m short. The transitions
are off-policy after the first step, as in Rainbow (no correction). ``--anneal-lr`` decays the
learning rate linearly to 0.

Defaults: for LunarLander-v3 at 300k steps (SLM-Lab's budget): 257.9, 204.9 (seeds 1, 2); the suite's
tuned cell (4 gradient steps, 50k buffer, alpha 0.1, 2x256, ``--anneal-lr``) 273.6 (seeds 1-4; history:
benchmarks/notes.md). CartPole-v1 settings that reach 500: also tests/test_dqn.py's PER_CARTPOLE.
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh classic --print-jobs --rerun --seeds 1 --algos dqn_per --envs CartPole``

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``; the buffer stores it as next observation and only ``terminated``
zeroes the bootstrap, so a truncation bootstraps from Q'(final observation) (CleanRL's dqn.py: the same,
with ``infos["final_observation"]``). No transition spans a reset.
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
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.checks import check_args
from common.cli import cli
from common.envs import check_action_space, make_envs
from common.nstep import NStepWindow
from common.replay import PrioritizedReplayBuffer, real_next_obs
from common.returns import td_targets
from common.runs import Run


@dataclass
class Args:
    exp_name: str = "dqn_per"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "LunarLander-v3"
    """Gymnasium id of an env with a discrete action space"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 300_000
    """env steps to train for, summed over the parallel envs"""
    num_envs: int = 1
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """sync steps envs in this process (fastest on few cores); async uses one process per env"""
    double: bool = True
    """Double DQN: the online network picks the next action, the target network evaluates it"""
    alpha: float = 0.6
    """priority exponent: 0 samples uniformly, 1 in proportion to |TD error|"""
    beta_start: float = 0.4
    """importance-sampling exponent at the start, annealed linearly to 1 at the end of training"""
    prior_eps: float = 1e-6
    """added to |TD error| so that no transition's priority is 0"""
    learning_rate: float = 5e-4
    """Adam learning rate"""
    anneal_lr: bool = False
    """decay the learning rate linearly to 0 at the end of training"""
    buffer_size: int = 100_000
    """replay buffer capacity (transitions)"""
    gamma: float = 0.99
    """discount factor"""
    n_step: int = 1
    """n-step returns (1: the paper's one-step target; Rainbow, Hessel et al. 2018, uses 3)"""
    tau: float = 0.005
    """target network update rate: 1 copies (hard update), < 1 is Polyak averaging"""
    target_network_frequency: int = 4
    """env steps between target network updates"""
    batch_size: int = 64
    """transitions per gradient step"""
    huber_delta: float = 10.0
    """TD errors beyond this are penalised linearly (Huber loss); the paper's 1 suits rewards clipped to [-1, 1]"""
    start_e: float = 1.0
    """epsilon at the start"""
    end_e: float = 0.01
    """epsilon after the decay"""
    exploration_fraction: float = 0.2
    """fraction of total_timesteps over which epsilon decays linearly"""
    learning_starts: int = 5000
    """transitions in the buffer before learning starts"""
    train_frequency: int = 4
    """env steps between training phases"""
    gradient_steps: int = 2
    """gradient steps per training phase"""
    max_grad_norm: float = 10.0
    """global gradient-norm clip (0: none)"""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """hidden layer widths of the Q-network"""
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
    save_model: bool = False
    """write a checkpoint at the end of training"""
    checkpoint_every: int = 0
    """also write a checkpoint every this many env steps (0: never)"""
    checkpoint_buffer: Literal["auto", "on", "off"] = "auto"
    """put the replay buffer and its priorities into checkpoints for an exact resume (auto: where they take
    <= 2 GiB); without them a resumed run refills the buffer with the current policy before updating again"""
    resume: str | None = None
    """path of a checkpoint to continue training from"""
    runs_dir: str = "runs"
    """folder of the run folders"""


# Arguments that shape the saved state: a resumed run must use the checkpoint's values.
RESUME_MUST_MATCH = ("env_id", "num_envs", "hidden_sizes", "activation", "layer_norm", "buffer_size")
RESUME_MUST_MATCH += ("alpha", "n_step")  # priorities p^alpha, stored n-step transitions and windows


def mlp(sizes, activation, layer_norm: bool) -> nn.Sequential:
    """Linear layers (PyTorch's default init) with an activation between them."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers += [nn.LayerNorm(n_out), act()] if layer_norm else [act()]
    return nn.Sequential(*layers)


class QNetwork(nn.Module):
    """Q(s, .): one output per action."""

    def __init__(self, obs_dim: int, n_actions: int, args: Args):
        super().__init__()
        self.net = mlp([obs_dim, *args.hidden_sizes, n_actions], args.activation, args.layer_norm)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs.flatten(1).float())


def linear_schedule(start: float, end: float, duration: float, t: int) -> float:
    return end if t >= duration else start + (end - start) * t / duration


def compute_loss(q_network, target_network, batch, weights, args: Args):
    """Importance-weighted Huber TD loss on one batch; returns (loss, td_errors (B,), q_values (B,))."""
    obs, actions, rewards, next_obs, terminated, steps = batch
    with torch.no_grad():
        next_q_target = target_network(next_obs)
        if args.double:
            next_actions = q_network(next_obs).argmax(1, keepdim=True)
            next_q = next_q_target.gather(1, next_actions).squeeze(1)
        else:
            next_q = next_q_target.max(1).values
        # y = R + gamma^m * (1 - terminated) * Q'(s', a*); R = r and m = 1 unless --n-step > 1
        q_targets = td_targets(rewards, next_q, terminated, args.gamma**steps)
    q_values = q_network(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
    loss = (weights * F.huber_loss(q_values, q_targets, reduction="none", delta=args.huber_delta)).mean()
    return loss, (q_values - q_targets).detach(), q_values.detach()


def numpy_q(net: nn.Sequential, activation: str):
    # 1.1x steps/s over acting with torch (whole process, CartPole): numpy costs less per one-row call
    *hidden, (w_out, b_out) = [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in net[::2]]
    act = {"relu": lambda x: np.maximum(x, np.float32(0)), "tanh": np.tanh}[activation]

    def forward(x: np.ndarray) -> np.ndarray:
        for w, b in hidden:
            x = act(x @ w + b)
        return x @ w_out + b_out

    return forward


def train(args: Args, report=None) -> dict:
    check_args(args)
    check_action_space(args.env_id, gym.spaces.Discrete, use_instead="algos/sac_continuous.py")
    run = Run(args, report, RESUME_MUST_MATCH)
    device = run.device
    rng = np.random.default_rng(args.seed)
    envs = make_envs(args, str(run.dir / "videos"))
    obs_space, n_actions = envs.single_observation_space, int(envs.single_action_space.n)

    q_network = QNetwork(int(np.prod(obs_space.shape)), n_actions, args).to(device)
    target_network = QNetwork(int(np.prod(obs_space.shape)), n_actions, args).to(device)
    target_network.load_state_dict(q_network.state_dict())
    # fused: one kernel for the whole step, ~3x faster than foreach for a 256x256 MLP on CPU
    optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate, fused=True)
    q_numpy = None if args.layer_norm or device.type != "cpu" else numpy_q(q_network.net, args.activation)
    buffer = PrioritizedReplayBuffer(args.buffer_size, obs_space, device)
    window = NStepWindow(args.n_step, args.num_envs, obs_space.shape, obs_space.dtype, args.gamma)
    obs, _ = envs.reset(seed=args.seed)
    networks = {"q_network": q_network, "target_network": target_network}
    global_step, obs = run.resume(
        envs, obs, **networks, optimizer=optimizer, buffer_rng=rng, buffer=buffer, window=window
    )
    if not run.mid_episode:  # new episodes: none of the window's steps belongs to them
        window.length[:] = 0

    n = args.num_envs
    exploration_steps, stats = args.exploration_fraction * args.total_timesteps, []
    for step in range(global_step // n, args.total_timesteps // n):
        epsilon = linear_schedule(args.start_e, args.end_e, exploration_steps, global_step)
        global_step += n
        actions = rng.integers(0, n_actions, size=n)
        greedy = rng.random(n) >= epsilon
        if greedy.any():  # no forward pass while every env explores
            if q_numpy is not None:
                q = q_numpy(obs.reshape(n, -1).astype(np.float32, copy=False))
            else:
                with torch.inference_mode():
                    q = q_network(torch.as_tensor(obs, device=device)).cpu().numpy()
            actions = np.where(greedy, q.argmax(1), actions)

        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        transitions = window.push(
            obs, actions, rewards, real_next_obs(next_obs, info), terminated, terminated | truncated
        )
        if transitions is not None:
            buffer.add(*transitions)
        run.log_episodes(global_step, info)
        obs = next_obs

        if len(buffer) >= args.learning_starts:
            if args.anneal_lr:
                frac = 1.0 - global_step / args.total_timesteps
                optimizer.param_groups[0]["lr"] = frac * args.learning_rate
            tf = args.train_frequency
            for _ in range((global_step // tf - (global_step - n) // tf) * args.gradient_steps):
                beta = linear_schedule(args.beta_start, 1.0, args.total_timesteps, global_step)
                idx, batch, weights = buffer.sample(args.batch_size, rng, beta)
                loss, td_errors, q_values = compute_loss(q_network, target_network, batch, weights, args)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if args.max_grad_norm > 0:
                    nn.utils.clip_grad_norm_(q_network.parameters(), args.max_grad_norm, foreach=True)
                optimizer.step()
                buffer.update_priorities(idx, td_errors, args.alpha, args.prior_eps)
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
            lr = optimizer.param_groups[0]["lr"]
            run.log(global_step, {"charts/epsilon": epsilon, "charts/learning_rate": lr})
            if run.progress(global_step, f"epsilon {epsilon:.3f}", obs):
                break
    return run.finish(global_step, obs)


def policy(state: dict, args: Args, env, greedy: bool):
    """The saved Q-network as ``act(obs) -> action`` for evaluate.py: argmax_a Q(s, a), or epsilon-greedy
    with the final ``end_e``."""
    q_network = QNetwork(int(np.prod(env.observation_space.shape)), int(env.action_space.n), args)
    q_network.load_state_dict(state["q_network"])

    def act(obs):
        if not greedy and torch.rand(()) < args.end_e:
            return int(torch.randint(int(env.action_space.n), ()))
        return int(q_network(torch.as_tensor(obs).unsqueeze(0)).argmax())

    return act


if __name__ == "__main__":
    train(cli(Args))
