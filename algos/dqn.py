"""DQN: Mnih et al. 2015, "Human-level control through deep reinforcement learning" (Nature).
``--double``: Double DQN, van Hasselt, Guez, Silver 2016, "Deep RL with Double Q-learning".

The Q-network minimises the Huber loss between Q(s, a) and a target computed with a target
network Q' (weights theta^-) from transitions sampled uniformly from a replay buffer:

    DQN:         y = r + gamma * (1 - terminated) * max_a' Q'(s', a')
    Double DQN:  y = r + gamma * (1 - terminated) * Q'(s', argmax_a' Q(s', a'))

Actions are epsilon-greedy with epsilon decayed linearly from ``start_e`` to ``end_e`` over
``exploration_fraction * total_timesteps`` steps. The target network is copied every
``target_network_frequency`` env steps (``tau=1``, the paper) or moved towards the online network
by Polyak averaging ``theta^- <- (1 - tau) theta^- + tau theta`` (in place, ``lerp_``).

Deviations from the paper: vector observations and an MLP instead of frames and a CNN; Adam
instead of RMSProp; target updates and training frequency count env steps summed over the envs.
The Huber loss (the paper's clipped error term) is quadratic up to ``huber_delta`` = 10, not 1: the
paper clips rewards to [-1, 1], we do not, and with returns near 100 (CartPole, LunarLander) a
threshold of 1 makes the fit a median that all but ignores the rare terminal transitions; Q then
diverged (to ~2e5 on CartPole within 120k steps) in our runs, while 10 behaves like the squared error of CleanRL's dqn.py.

Defaults: RL Zoo's tuned CartPole-v1 DQN (hyperparams/dqn.yml) with lr 1e-3 instead of 2.3e-3: the greedy
policy after 50k steps scores 500 in each of 10 episodes (seeds 1, 2; history: benchmarks/notes.md).
With a target copy every 10 env steps and training every 256, the target is the online network as it
stood before each training phase.
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh classic --print-jobs --rerun --seeds 1 --algos dqn --envs LunarLander``

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
from common.replay import ReplayBuffer, real_next_obs
from common.returns import td_targets
from common.runs import Run


@dataclass
class Args:
    exp_name: str = "dqn"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "CartPole-v1"
    """Gymnasium id of an env with a discrete action space"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 50_000
    """env steps to train for, summed over the parallel envs"""
    num_envs: int = 1
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """sync steps envs in this process (fastest on few cores); async uses one process per env"""
    double: bool = False
    """Double DQN: the online network picks the next action, the target network evaluates it"""
    learning_rate: float = 1e-3
    """Adam learning rate"""
    buffer_size: int = 100_000
    """replay buffer capacity (transitions)"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 1.0
    """target network update rate: 1 copies (hard update), < 1 is Polyak averaging"""
    target_network_frequency: int = 10
    """env steps between target network updates"""
    batch_size: int = 64
    """transitions per gradient step"""
    huber_delta: float = 10.0
    """TD errors beyond this are penalised linearly (Huber loss); the paper's 1 suits rewards clipped to [-1, 1]"""
    start_e: float = 1.0
    """epsilon at the start"""
    end_e: float = 0.04
    """epsilon after the decay"""
    exploration_fraction: float = 0.16
    """fraction of total_timesteps over which epsilon decays linearly"""
    learning_starts: int = 1000
    """transitions in the buffer before learning starts"""
    train_frequency: int = 256
    """env steps between training phases"""
    gradient_steps: int = 128
    """gradient steps per training phase"""
    max_grad_norm: float = 10.0
    """global gradient-norm clip (0: none)"""
    hidden_sizes: tuple[int, ...] = (256, 256)
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
    """put the replay buffer into checkpoints for an exact resume (auto: where its arrays take <= 2 GiB);
    without it a resumed run refills it with the current policy before updating again"""
    resume: str | None = None
    """path of a checkpoint to continue training from"""
    runs_dir: str = "runs"
    """folder of the run folders"""


# Arguments that shape the saved state: a resumed run must use the checkpoint's values.
RESUME_MUST_MATCH = ("env_id", "num_envs", "hidden_sizes", "activation", "layer_norm", "buffer_size")


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


def compute_loss(q_network, target_network, batch, args: Args):
    """Huber TD loss on one batch; returns (loss, q_values (B,))."""
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
    loss = F.huber_loss(q_values, q_targets, delta=args.huber_delta)
    return loss, q_values.detach()


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
    buffer = ReplayBuffer(args.buffer_size, obs_space, (), np.int64, device)
    obs, _ = envs.reset(seed=args.seed)
    networks = {"q_network": q_network, "target_network": target_network}
    global_step, obs = run.resume(envs, obs, **networks, optimizer=optimizer, buffer_rng=rng, buffer=buffer)

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
        buffer.add(obs, real_next_obs(next_obs, info), actions, rewards, terminated)
        run.log_episodes(global_step, info)
        obs = next_obs

        if len(buffer) >= args.learning_starts:
            tf = args.train_frequency
            phase_steps = (global_step // tf - (global_step - n) // tf) * args.gradient_steps
            # The phase's minibatches in one gather: the buffer does not change during the phase.
            batches = buffer.sample(phase_steps * args.batch_size, rng) if phase_steps else ()
            for batch in zip(*(t.split(args.batch_size) for t in batches)):
                loss, q_values = compute_loss(q_network, target_network, batch, args)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if args.max_grad_norm > 0:
                    nn.utils.clip_grad_norm_(q_network.parameters(), args.max_grad_norm, foreach=True)
                optimizer.step()
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
    q_network = QNetwork(int(np.prod(env.observation_space.shape)), int(env.action_space.n), args)
    q_network.load_state_dict(state["q_network"])

    def act(obs):
        if not greedy and torch.rand(()) < args.end_e:
            return int(torch.randint(int(env.action_space.n), ()))
        return int(q_network(torch.as_tensor(obs).unsqueeze(0)).argmax())

    return act


if __name__ == "__main__":
    train(cli(Args))
