"""Double DQN with proportional prioritized experience replay.

Schaul, Quan, Antonoglou, Silver 2016, "Prioritized Experience Replay" (ICLR), on top of Double DQN
(van Hasselt, Guez, Silver 2016) and DQN (Mnih et al. 2015). Transition i is replayed with
probability P(i) and its loss scaled by an importance-sampling weight w_i:

    P(i) = p_i^alpha / sum_k p_k^alpha,   p_i = |delta_i| + eps
    w_i  = (N * P(i))^-beta / max_j w_j,  beta annealed linearly from beta_start to 1
    delta_i = y_i - Q(s_i, a_i),          y_i = r_i + gamma * (1 - terminated_i) * Q'(s'_i, argmax_a' Q(s'_i, a'))
    loss = mean_i w_i * Huber(delta_i)

New transitions get the largest priority seen so far; sampled ones get p_i from their new TD
error. The sum tree (common/sumtree.py) samples and updates a whole batch at once, stratified
into ``batch_size`` equal segments of the total priority (the paper's Algorithm 1).

Deviations from the paper: vector observations and an MLP instead of frames and a CNN; Adam
instead of RMSProp; the weighted Huber loss with threshold ``huber_delta`` (default 10) instead of
the paper's weighted squared error with TD errors clipped to [-1, 1] (algos/dqn.py says why not 1
with unclipped rewards); target updates and training frequency count env steps summed over the envs.

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
zeroes the bootstrap, so a truncation bootstraps from Q'(final observation). No transition spans a reset.
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
from common.returns import td_targets
from common.runs import (
    Run,
    args_from_checkpoint,
    buffer_not_saved,
    check_env_id,
    check_resume_args,
    cli,
    env_state,
    eval_env,
    fail,
    keeps_buffer,
    load_checkpoint,
    load_optimizer,
    pick_device,
    rng_states,
    run_episodes,
    seed_everything,
    set_env_state,
    set_rng_states,
    threads_for,
)
from common.sumtree import SumTree, importance_weights


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
    """torch CPU threads; 0: auto, 1 thread for networks under 100k parameters in all, else 2 (at most the
    physical cores and $OMP_NUM_THREADS; the faster per script on an idle 2-core CPU, and a fixed count
    keeps curves equal across machines). Runs side by side on one machine: give each 1"""
    capture_video: bool = False
    """record videos of env 0 into the run folder's videos/"""
    save_model: bool = False
    """write a checkpoint at the end of training"""
    checkpoint_every: int = 0
    """also write a checkpoint every this many env steps (0: never), at the next progress check (<= 1000 steps on)"""
    checkpoint_buffer: Literal["auto", "on", "off"] = "auto"
    """put the replay buffer and its priorities into checkpoints for an exact resume (auto: where they take
    <= 2 GiB); without them a resumed run refills the buffer with the current policy before updating again"""
    resume: str | None = None
    """path of a checkpoint to continue training from"""
    runs_dir: str = "runs"
    """folder of the run folders"""


# Arguments that shape the saved state (networks, stored n-step transitions, priorities p^alpha, the
# n-step windows): a resumed run must use the checkpoint's values.
RESUME_MUST_MATCH = (
    "env_id",
    "num_envs",
    "hidden_sizes",
    "activation",
    "layer_norm",
    "buffer_size",
    "alpha",
    "n_step",
)


def make_env(env_id: str, idx: int, capture_video: bool, video_dir: str):
    def thunk():
        if capture_video and idx == 0:
            env = gym.make(env_id, render_mode="rgb_array")
            env = gym.wrappers.RecordVideo(env, video_dir)
        else:
            env = gym.make(env_id)
        return env

    return thunk


def make_envs(args: Args, video_dir: str) -> gym.vector.VectorEnv:
    """The vector env in SAME_STEP autoreset mode, with episode statistics."""
    envs = gym.vector.SyncVectorEnv if args.vector_mode == "sync" else gym.vector.AsyncVectorEnv
    envs = envs(
        [make_env(args.env_id, i, args.capture_video, video_dir) for i in range(args.num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    return gym.wrappers.vector.RecordEpisodeStatistics(envs)


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


def numpy_view(net: nn.Sequential):
    """``net`` (Linear, ReLU, Tanh, LayerNorm layers) as a numpy function that shares the weights'
    memory (CPU tensors only). The optimizer updates the weights in place, so the view always acts
    with the current Q-network, at a fraction of torch's per-call cost for a few rows."""
    layers = []
    for layer in net:
        if isinstance(layer, nn.Linear):
            weight_t, bias = layer.weight.detach().numpy().T, layer.bias.detach().numpy()
            layers.append(lambda x, w=weight_t, b=bias: x @ w + b)
        elif isinstance(layer, nn.LayerNorm):
            gain, bias = layer.weight.detach().numpy(), layer.bias.detach().numpy()

            def layer_norm(x, gain=gain, bias=bias, eps=layer.eps):
                x = x - x.mean(-1, keepdims=True)
                return x / np.sqrt(np.square(x).mean(-1, keepdims=True) + eps) * gain + bias

            layers.append(layer_norm)
        elif isinstance(layer, nn.Tanh):
            layers.append(np.tanh)
        elif isinstance(layer, nn.ReLU):
            layers.append(lambda x: np.maximum(x, 0.0, dtype=np.float32))
        else:
            raise TypeError(f"numpy_view: no numpy version of {layer}")

    def forward(x: np.ndarray) -> np.ndarray:
        for f in layers:
            x = f(x)
        return x

    return forward


class PrioritizedReplayBuffer:
    """Ring buffer of transitions in preallocated numpy arrays (observations keep their dtype)
    with a sum tree over the priorities p_i^alpha."""

    def __init__(self, capacity: int, obs_shape: tuple, obs_dtype, device: torch.device):
        self.capacity, self.device = capacity, device
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.steps = np.ones(capacity, dtype=np.float32)  # m of an m-step transition
        self.pos, self.size = 0, 0
        self.tree = SumTree(capacity)
        self.new_slots: list[np.ndarray] = []

    def _add_new_slots(self) -> None:
        """New transitions get the largest priority so far, max_{i<t} p_i^alpha (one batched tree
        update per training phase instead of one per env step)."""
        if self.new_slots:
            self.tree.update(np.concatenate(self.new_slots), self.tree.max_priority)
            self.new_slots.clear()

    def add(self, obs, next_obs, actions, rewards, terminated, steps=1) -> np.ndarray:
        """Store a batch of transitions; returns the slots written."""
        idx = (self.pos + np.arange(len(actions))) % self.capacity
        self.obs[idx], self.next_obs[idx], self.actions[idx] = obs, next_obs, actions
        self.rewards[idx], self.terminated[idx], self.steps[idx] = rewards, terminated, steps
        self.pos = int(idx[-1] + 1) % self.capacity
        self.size = min(self.size + len(actions), self.capacity)
        self.new_slots.append(idx)  # they enter the tree, all at once, before the next sample
        if len(self.new_slots) >= 1024:
            self._add_new_slots()
        return idx

    def get(self, idx: np.ndarray) -> tuple[torch.Tensor, ...]:
        """(obs, actions, rewards, next_obs, terminated, steps) at the slots ``idx``, as tensors."""
        arrays = (self.obs, self.actions, self.rewards, self.next_obs, self.terminated, self.steps)
        # ndarray.take(idx, axis=0) gathers rows several times faster than fancy indexing a[idx].
        return tuple(torch.from_numpy(a.take(idx, axis=0)).to(self.device) for a in arrays)

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float):
        """A batch drawn with P(i) = p_i^alpha / sum_k p_k^alpha; returns (slots, batch, weights)."""
        self._add_new_slots()
        idx, priorities = self.tree.sample(batch_size, rng)
        weights = importance_weights(priorities, self.tree.total, self.size, beta)
        return idx, self.get(idx), torch.from_numpy(weights.astype(np.float32)).to(self.device)

    def update_priorities(self, idx: np.ndarray, td_errors: torch.Tensor, alpha: float, eps: float) -> None:
        self.tree.update(idx, (np.abs(td_errors.cpu().numpy().astype(np.float64)) + eps) ** alpha)

    def state_dict(self) -> dict:
        self._add_new_slots()
        n = self.size
        arrays = {
            k: getattr(self, k)[:n].copy()
            for k in ("obs", "next_obs", "actions", "rewards", "terminated", "steps")
        }
        tree = {"tree": self.tree.tree.copy(), "max_priority": self.tree.max_priority}
        return {"pos": self.pos, "size": n, **arrays, **tree}

    def load_state_dict(self, state: dict) -> None:
        n = state["size"]
        for k in ("obs", "next_obs", "actions", "rewards", "terminated", "steps"):
            if k in state:
                getattr(self, k)[:n] = state[k]
        self.pos, self.size = state["pos"], n
        self.tree.tree[:], self.tree.max_priority = state["tree"], state["max_priority"]


class NStepWindow:
    """Each env's last n steps, turned into m-step transitions (Sutton & Barto 2018, eq. 7.1)

        (s_t, a_t, R = sum_{k<m} gamma^k r_{t+k}, s_{t+m}, terminated_{t+m-1}, m)

    with m = n, or fewer at an episode's end (terminated or truncated), which flushes the window:
    every step of an episode starts one transition, and none spans a reset."""

    def __init__(self, n: int, num_envs: int, obs_shape: tuple, obs_dtype, gamma: float):
        self.n, self.gamma = n, gamma
        self.obs = np.zeros((n, num_envs, *obs_shape), dtype=obs_dtype)  # row n-1 is the newest step
        self.actions = np.zeros((n, num_envs), dtype=np.int64)
        self.rewards = np.zeros((n, num_envs), dtype=np.float32)
        self.length = np.zeros(num_envs, dtype=np.int64)  # steps of the current episode held, <= n

    def push(self, obs, actions, rewards, real_next_obs, terminated, ended):
        """Add one vector step; returns the transitions it completes as arrays for buffer.add."""
        for a, x in ((self.obs, obs), (self.actions, actions), (self.rewards, rewards)):
            a[:-1] = a[1:]
            a[-1] = x
        self.length = np.minimum(self.length + 1, self.n)
        returns = self.rewards.copy()  # returns[p] = sum_{k>=p} gamma^(k-p) r_k, to the newest step
        for p in range(self.n - 2, -1, -1):
            returns[p] += self.gamma * returns[p + 1]
        parts = []
        for p in range(self.n):  # the transition starting at row p takes n - p steps
            emit = (self.length >= self.n - p) & ((p == 0) | ended)
            if emit.any():
                envs = np.flatnonzero(emit)
                columns = (self.obs[p], real_next_obs, self.actions[p], returns[p], terminated)
                parts.append([c[envs] for c in columns] + [np.full(len(envs), self.n - p, np.float32)])
        self.length[ended] = 0
        return [np.concatenate(column) for column in zip(*parts)] if parts else None


def store_step(
    buffer, obs, next_obs, actions, rewards, terminated, truncated, info, window=None
) -> np.ndarray:
    """Add one vector step to ``buffer`` (through the n-step ``window`` if given); returns the slots
    written.

    Easy to overlook: with SAME_STEP autoreset ``next_obs`` of an env whose episode just ended
    (terminated or truncated) is already the *reset* observation of the next episode. The real
    final observation is ``info["final_obs"]``; it is what a truncated transition bootstraps from.
    Only ``terminated`` goes into the bootstrap mask.
    """
    real_next_obs = next_obs
    if "_final_obs" in info and info["_final_obs"].any():
        ended = info["_final_obs"]
        real_next_obs = next_obs.copy()
        real_next_obs[ended] = np.stack(info["final_obs"][ended])
    if window is None:
        return buffer.add(obs, real_next_obs, actions, rewards, terminated)
    transitions = window.push(obs, actions, rewards, real_next_obs, terminated, terminated | truncated)
    return buffer.add(*transitions) if transitions is not None else np.zeros(0, dtype=np.int64)


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
        discounts = args.gamma**steps if args.n_step > 1 else args.gamma
        q_targets = td_targets(rewards, next_q, terminated, discounts)
    q_values = q_network(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
    loss = (weights * F.huber_loss(q_values, q_targets, reduction="none", delta=args.huber_delta)).mean()
    return loss, (q_values - q_targets).detach(), q_values.detach()


@torch.no_grad()
def update_target(target_params: list, params: list, tau: float) -> None:
    """theta^- <- theta (tau = 1) or theta^- <- theta^- + tau (theta - theta^-), in place."""
    if tau == 1.0:
        torch._foreach_copy_(target_params, params)
    else:
        torch._foreach_lerp_(target_params, params, tau)


def check_action_space(space, env_id: str) -> None:
    if not isinstance(space, gym.spaces.Discrete):
        hint = (
            "algos/sac_continuous.py" if isinstance(space, gym.spaces.Box) else "an env with Discrete actions"
        )
        fail(f"{env_id} has a {space} action space; DQN needs Discrete actions: use {hint}")


def train(args: Args, report=None) -> dict:
    check_args(args)
    check_env_id(args.env_id)
    with gym.make(args.env_id) as probe:  # the action space is checked before any run folder exists
        check_action_space(probe.action_space, args.env_id)
    checkpoint = load_checkpoint(args.resume) if args.resume else None
    if checkpoint is not None:
        check_resume_args(args, checkpoint, RESUME_MUST_MATCH)

    torch.set_num_threads(threads_for(args.torch_threads))  # auto: 1 until the networks exist
    seed_everything(args.seed, args.torch_deterministic)
    rng = np.random.default_rng(args.seed)
    device = pick_device(args.cuda)
    run = Run(args, report, resume=checkpoint)
    envs = make_envs(args, str(run.dir / "videos"))
    obs_space, n_actions = envs.single_observation_space, int(envs.single_action_space.n)

    q_network = QNetwork(int(np.prod(obs_space.shape)), n_actions, args).to(device)
    torch.set_num_threads(threads_for(args.torch_threads, q_network))
    target_network = QNetwork(int(np.prod(obs_space.shape)), n_actions, args).to(device)
    target_network.load_state_dict(q_network.state_dict())
    # fused: one kernel for the whole step, ~3x faster than foreach for a 256x256 MLP on CPU
    optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate, fused=True)
    params, target_params = list(q_network.parameters()), list(target_network.parameters())
    if device.type == "cpu":  # acting on one row: numpy costs a fraction of torch's per-call overhead
        q_values_of = numpy_view(q_network.net)
    else:

        @torch.inference_mode()
        def q_values_of(obs: np.ndarray) -> np.ndarray:
            return q_network(torch.as_tensor(obs, device=device)).cpu().numpy()

    buffer = PrioritizedReplayBuffer(args.buffer_size, obs_space.shape, obs_space.dtype, device)
    save_buffer = keeps_buffer(args.checkpoint_buffer, buffer, buffer.tree)
    window = None
    if args.n_step > 1:
        window = NStepWindow(args.n_step, args.num_envs, obs_space.shape, obs_space.dtype, args.gamma)

    global_step = 0
    obs, _ = envs.reset(seed=args.seed)
    if checkpoint is not None:
        q_network.load_state_dict(checkpoint["q_network"])
        target_network.load_state_dict(checkpoint["target_network"])
        load_optimizer(optimizer, checkpoint["optimizer"])
        global_step = checkpoint["global_step"]
        set_rng_states(checkpoint["rng"])
        rng.bit_generator.state = checkpoint["buffer_rng"]
        if checkpoint.get("buffer") is not None:
            buffer.load_state_dict(checkpoint["buffer"])
        else:  # updates wait until the current policy has refilled learning_starts transitions
            buffer_not_saved(global_step, args.learning_starts, args.num_envs)
        # Classic-control envs come back mid-episode (exact resume); others start new episodes.
        if set_env_state(envs, checkpoint["envs"]):
            obs = checkpoint["obs"]
            if window is not None and checkpoint.get("window") is not None:
                vars(window).update(checkpoint["window"])  # the episodes' last n steps go on too
        else:
            obs, _ = envs.reset(seed=args.seed + global_step)

    def save(name: str) -> None:
        state = {
            "q_network": q_network.state_dict(),
            "target_network": target_network.state_dict(),
            "optimizer": optimizer.state_dict(),
            "global_step": global_step,
            "rng": rng_states(),
            "buffer_rng": rng.bit_generator.state,
            "buffer": buffer.state_dict() if save_buffer else None,
            "envs": env_state(envs),
            "obs": obs,
            "window": vars(window) if window is not None else None,
            "args": vars(args),
        }
        run.save_checkpoint(state, name)

    def check_finite(td_loss: float) -> None:
        run.check_finite(global_step, {"td_loss": td_loss}, q_network)

    n = args.num_envs
    progress_every = max(1, 1000 // n)  # vector steps between progress lines / report calls
    exploration_steps = args.exploration_fraction * args.total_timesteps
    num_updates, stats = 0, []
    for step in range(global_step // n, args.total_timesteps // n):
        epsilon = linear_schedule(args.start_e, args.end_e, exploration_steps, global_step)
        global_step += n
        actions = rng.integers(0, n_actions, size=n)
        greedy = rng.random(n) >= epsilon
        if greedy.any():  # no forward pass while every env explores
            q = q_values_of(obs.reshape(n, -1).astype(np.float32, copy=False))
            actions = np.where(greedy, q.argmax(1), actions)

        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        store_step(buffer, obs, next_obs, actions, rewards, terminated, truncated, info, window)
        run.log_episodes(global_step, info)
        obs = next_obs

        if buffer.size >= args.learning_starts:
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
                    nn.utils.clip_grad_norm_(params, args.max_grad_norm, foreach=True)
                optimizer.step()
                buffer.update_priorities(idx, td_errors, args.alpha, args.prior_eps)
                num_updates += 1
                stats.append(torch.stack([loss.detach(), q_values.mean()]))
                if len(stats) == 100:
                    td_loss, mean_q = torch.stack(stats).mean(0).tolist()
                    stats.clear()
                    check_finite(td_loss)
                    run.log(global_step, {"losses/td_loss": td_loss, "losses/q_values": mean_q})
            tnf = args.target_network_frequency
            if global_step // tnf != (global_step - n) // tnf:
                update_target(target_params, params, args.tau)

        if args.checkpoint_every and global_step // args.checkpoint_every != (
            (global_step - n) // args.checkpoint_every
        ):
            if stats:
                check_finite(stats[-1][0].item())
            save("latest")
        if step % progress_every == 0 or step == args.total_timesteps // n - 1:
            lr = optimizer.param_groups[0]["lr"]
            run.log(global_step, {"charts/epsilon": epsilon, "charts/learning_rate": lr})
            if run.progress(global_step, f"epsilon {epsilon:.3f}  updates {num_updates}"):
                break

    # Ctrl-C / SIGTERM (run.stop_signal) also ends here: its checkpoint lets --resume continue.
    if args.save_model or run.stop_signal is not None:
        save("latest")
    envs.close()
    summary = run.finish(global_step)
    return summary


def evaluate(
    checkpoint: str,
    episodes: int = 10,
    greedy: bool = True,
    capture_video: bool = False,
    render: bool = False,
    seed: int = 10_000,
) -> dict:
    """Play a saved Q-network for ``episodes`` episodes (argmax_a Q(s, a) if ``greedy``, else
    epsilon-greedy with the final ``end_e``); returns ``{"mean", "std", "returns", "lengths"}``."""
    state = load_checkpoint(checkpoint)
    args = args_from_checkpoint(Args, state)
    env = eval_env(args.env_id, checkpoint, capture_video, render)
    q_network = QNetwork(int(np.prod(env.observation_space.shape)), int(env.action_space.n), args)
    q_network.load_state_dict(state["q_network"])
    rng = np.random.default_rng(seed)

    @torch.inference_mode()
    def act(obs):
        if not greedy and rng.random() < args.end_e:
            return int(rng.integers(env.action_space.n))
        return int(q_network(torch.as_tensor(obs).unsqueeze(0)).argmax())

    return run_episodes(env, act, episodes, seed)


if __name__ == "__main__":
    train(cli(Args))
