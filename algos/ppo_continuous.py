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

Speed (the envs are raw: ``RecordEpisodeStatistics`` sees raw rewards, so logged returns are the raw
ones). The script normalises observations and scales rewards itself, once per vector step over the
batch of envs (``Normalizer``: the math of Gymnasium's NormalizeObservation / NormalizeReward, with
one set of statistics shared by the envs); per-env wrappers cost more per step than MuJoCo's
physics here. ``info["final_obs"]`` goes through the same normalisation as every observation the
critic sees. The rollout runs the actor as a numpy snapshot of its weights (the policy is fixed
during a rollout; numpy's per-call cost is a fraction of torch's for a few rows), and only the
actor: V(s_t), V(final obs) and the old log-probabilities are computed for the whole rollout in one
batched torch forward after it.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from functools import partial
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from gymnasium.wrappers.utils import RunningMeanStd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.checks import check_args, whole_rollouts
from common.returns import gae, next_values_from
from common.runs import (
    Run,
    args_from_checkpoint,
    check_env_id,
    check_resume_args,
    cli,
    env_state,
    eval_env,
    fail,
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
    """initial log standard deviation of the Gaussian policy"""
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
    """torch CPU threads; 0: auto, 1 thread for networks under 100k parameters in all, else 2 (at most the
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


def make_env(env_id: str, idx: int, capture_video: bool, video_dir: str):
    def thunk():
        if capture_video and idx == 0:
            env = gym.make(env_id, render_mode="rgb_array")
            return gym.wrappers.RecordVideo(env, video_dir)
        return gym.make(env_id)

    return thunk


def make_envs(args: Args, video_dir: str):
    """Raw envs (the script normalises, see ``Normalizer``) with raw episode statistics."""
    envs = gym.vector.SyncVectorEnv if args.vector_mode == "sync" else gym.vector.AsyncVectorEnv
    envs = envs(
        [make_env(args.env_id, i, args.capture_video, video_dir) for i in range(args.num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        copy=False,  # the rollout normalises each observation into a new array before the next step
    )
    return gym.wrappers.vector.RecordEpisodeStatistics(envs)


def update_running_stats(rms: RunningMeanStd, x: np.ndarray) -> None:
    """``rms.update(x)`` (pooled mean and variance with the batch ``x`` along axis 0) in fewer numpy
    calls; one row (one env) skips the batch's own variance, which is 0."""
    n = x.shape[0]
    if n == 1:
        delta, batch_m2 = x[0] - rms.mean, 0.0
    else:
        batch_mean = x.sum(0) / n
        delta, batch_m2 = batch_mean - rms.mean, np.square(x - batch_mean).sum(0)
    count = rms.count
    total = count + n
    rms.mean = rms.mean + delta * (n / total)
    rms.var = (rms.var * count + batch_m2 + np.square(delta) * (count * n / total)) / total
    rms.count = total


class Normalizer:
    """Observation normalisation and reward scaling (OpenAI baselines' VecNormalize), applied by the
    script once per vector step; the same math as Gymnasium's NormalizeObservation (+ clip) and
    vector NormalizeReward (+ clip), with one set of running statistics for all envs.

    obs: update the running mean/var with the batch, then ``clip((obs - mean) / sqrt(var + 1e-8))``.
    rewards: ``G <- gamma * G * (1 - terminated) + r`` per env (0 after an episode ends), update the
    running var of G, then ``clip(r / sqrt(var + 1e-8))``.
    """

    def __init__(self, obs_space: gym.spaces.Box, num_envs: int, args: Args):
        self.obs_rms = RunningMeanStd(shape=obs_space.shape, dtype=obs_space.dtype) if args.norm_obs else None
        self.return_rms = RunningMeanStd(shape=()) if args.norm_reward else None
        self.returns = np.zeros(num_envs)
        self.gamma, self.obs_clip, self.reward_clip = args.gamma, args.obs_clip, args.reward_clip

    def obs(self, obs: np.ndarray) -> np.ndarray:
        """A batch of raw observations (B, ...) -> float32, updating the statistics first."""
        if self.obs_rms is None:
            return np.asarray(obs, dtype=np.float32)
        update_running_stats(self.obs_rms, obs)
        obs = (obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + 1e-8)
        return obs.clip(-self.obs_clip, self.obs_clip).astype(np.float32)

    def reward(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> np.ndarray:
        if self.return_rms is None:
            return rewards
        self.returns = self.returns * self.gamma * (1 - terminated) + rewards
        update_running_stats(self.return_rms, self.returns)
        self.returns[terminated | truncated] = 0.0
        return (rewards / np.sqrt(self.return_rms.var + 1e-8)).clip(-self.reward_clip, self.reward_clip)

    def state_dict(self) -> dict:
        return {"obs_rms": self.obs_rms, "return_rms": self.return_rms, "returns": self.returns}

    def load_state_dict(self, state: dict) -> None:
        self.obs_rms, self.return_rms, self.returns = state["obs_rms"], state["return_rms"], state["returns"]


def mlp(sizes, activation, layer_norm: bool, out_std: float) -> nn.Sequential:
    """Linear layers with orthogonal init (sqrt(2) gain inside, ``out_std`` for the output)."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        linear = nn.Linear(n_in, n_out)
        nn.init.orthogonal_(linear.weight, out_std if last else np.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers += [nn.LayerNorm(n_out), act()] if layer_norm else [act()]
    return nn.Sequential(*layers)


class Agent(nn.Module):
    """Separate actor (Gaussian mean, state-independent log-std) and critic (value) MLPs."""

    def __init__(self, obs_dim: int, act_dim: int, args: Args):
        super().__init__()
        hidden = list(args.hidden_sizes)
        self.actor_mean = mlp([obs_dim, *hidden, act_dim], args.activation, args.layer_norm, 0.01)
        self.actor_logstd = nn.Parameter(torch.full((act_dim,), args.init_log_std))
        self.critic = mlp([obs_dim, *hidden, 1], args.activation, args.layer_norm, 1.0)


def numpy_snapshot(net: nn.Sequential):
    """``net`` (Linear, Tanh, ReLU, LayerNorm layers) frozen as a numpy function of float32 arrays."""
    layers = []
    for layer in net:
        if isinstance(layer, nn.Linear):
            weight_t = layer.weight.detach().cpu().numpy().T.copy()
            bias = layer.bias.detach().cpu().numpy().copy()
            layers.append(lambda x, w=weight_t, b=bias: x @ w + b)
        elif isinstance(layer, nn.LayerNorm):
            gain, bias = layer.weight.detach().cpu().numpy().copy(), layer.bias.detach().cpu().numpy().copy()

            def layer_norm(x, gain=gain, bias=bias, eps=layer.eps):
                x = x - x.mean(-1, keepdims=True)
                return x / np.sqrt(np.square(x).mean(-1, keepdims=True) + eps) * gain + bias

            layers.append(layer_norm)
        elif isinstance(layer, nn.Tanh):
            layers.append(np.tanh)
        elif isinstance(layer, nn.ReLU):
            layers.append(lambda x: np.maximum(x, 0.0, dtype=np.float32))
        else:
            raise TypeError(f"numpy_snapshot: no numpy version of {layer}")

    def forward(x: np.ndarray) -> np.ndarray:
        for f in layers:
            x = f(x)
        return x

    return forward


def gaussian_log_prob(actions: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(actions; mean, diag(exp(log_std)^2)), summed over the action dimensions: (B, A) -> (B,)."""
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std).sum(-1) - 0.5 * math.log(2 * math.pi) * actions.shape[-1]


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy of the diagonal Gaussian; with a state-independent std it is the same for every state."""
    return (log_std + 0.5 * (1.0 + math.log(2 * math.pi))).sum()


def compute_advantages(agent, value_transform, rollout, args: Args):
    """GAE over a rollout ``(obs, final_obs, last_obs, rewards, terminated, truncated)``, shapes
    (T, N, obs_dim), (T, N, obs_dim), (N, obs_dim), (T, N), (T, N), (T, N).

    ``final_obs[t, n]`` is the final observation of the episode that was truncated at step t (read
    only where ``truncated``): its value is the bootstrap of that step, not the reset observation's.
    Returns ``(values, advantages, returns)``; values in the critic's (transformed) space.
    """
    obs, final_obs, last_obs, rewards, terminated, truncated = rollout
    T, N = rewards.shape
    values = agent.critic(obs.view(T * N, -1)).view(T, N)
    values_raw = value_transform.decode(values)
    last_values = value_transform.decode(agent.critic(last_obs).squeeze(1))
    final_values = torch.zeros_like(values_raw)
    if truncated.any():
        final_values[truncated] = value_transform.decode(agent.critic(final_obs[truncated]).squeeze(1))
    next_values = next_values_from(values_raw, last_values, final_values, truncated)
    advantages, returns = gae(
        rewards, values_raw, next_values, terminated, terminated | truncated, args.gamma, args.gae_lambda
    )
    return values, advantages, returns


def minibatches(batch, perm: torch.Tensor, args: Args):
    """One epoch's minibatches of ``batch`` (obs, actions, log_probs, advantages, returns, values),
    in the order ``perm``; with ``norm_adv`` each minibatch's advantages standardised by its own mean
    and std. One gather per tensor and one standardisation for the whole epoch (views after that)."""
    obs, actions, log_probs, advantages, returns, values = (x[perm] for x in batch)
    if args.norm_adv:
        adv = advantages.view(args.num_minibatches, -1)
        advantages = ((adv - adv.mean(1, keepdim=True)) / (adv.std(1, keepdim=True) + 1e-8)).view(-1)
    size = len(perm) // args.num_minibatches
    return zip(*(x.split(size) for x in (obs, actions, log_probs, advantages, returns, values)))


def compute_loss(agent, value_transform, mb, args: Args):
    """PPO loss on one minibatch ``mb`` (obs, actions, log_probs, advantages, returns, values), the
    advantages already standardised if ``norm_adv`` (see ``minibatches``).

    Returns the total loss, a detached tensor [policy_loss, value_loss, entropy] and the detached
    log-ratios (``update_stats`` turns those into the approximate KL and the clip fraction).
    """
    obs, actions, old_log_probs, advantages, returns, old_values = mb
    log_probs = gaussian_log_prob(actions, agent.actor_mean(obs), agent.actor_logstd)
    entropy = gaussian_entropy(agent.actor_logstd)
    log_ratio = log_probs - old_log_probs
    ratio = log_ratio.exp()
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
    return loss, torch.stack([policy_loss, value_loss, entropy]).detach(), log_ratio.detach()


@torch.no_grad()
def approx_kl_and_clipfrac(log_ratio: torch.Tensor, clip_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """KL(old || new) estimated as E[(ratio - 1) - log ratio] (http://joschu.net/blog/kl-approx.html)
    and the fraction of ratios outside [1 - clip_coef, 1 + clip_coef]."""
    ratio = log_ratio.exp()
    return ((ratio - 1) - log_ratio).mean(), ((ratio - 1.0).abs() > clip_coef).float().mean()


def flatten_parameters(module: nn.Module) -> nn.Parameter:
    """Make every parameter of ``module`` and its gradient a view into one flat tensor, returned as
    a Parameter whose ``.grad`` is the flat gradient (zero it in place, never set it to None): Adam
    and the gradient-norm clip then run one kernel each instead of one per tensor, with the same math
    (Adam is elementwise, the clip uses the global norm)."""
    params = list(module.parameters())
    flat = nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))
    flat.grad = torch.zeros_like(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.data = flat.data[offset : offset + n].view_as(p)
        p.grad = flat.grad[offset : offset + n].view_as(p)
        offset += n
    return flat


def train(args: Args, report=None) -> dict:
    check_args(args)
    batch_size = args.num_envs * args.num_steps
    num_iterations = whole_rollouts(args.total_timesteps, batch_size)
    spec = check_env_id(args.env_id)
    checkpoint = load_checkpoint(args.resume) if args.resume else None
    if checkpoint is not None:
        check_resume_args(args, checkpoint, RESUME_MUST_MATCH)

    torch.set_num_threads(threads_for(args.torch_threads))  # auto: 1 until the networks exist
    seed_everything(args.seed, args.torch_deterministic)
    device = pick_device(args.cuda)
    probe = gym.make(spec)  # checks the action space before any run folder or vector env exists
    action_space, obs_space = probe.action_space, probe.observation_space
    probe.close()
    if not isinstance(action_space, gym.spaces.Box):
        fail(f"{args.env_id} has a {action_space} action space: use algos/ppo.py")
    if not isinstance(obs_space, gym.spaces.Box):
        fail(f"{args.env_id} has a {obs_space} observation space: this script needs a Box")
    run = Run(args, report, resume=checkpoint)
    envs = make_envs(args, str(run.dir / "videos"))
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    act_dim = int(np.prod(envs.single_action_space.shape))
    action_low, action_high = envs.single_action_space.low, envs.single_action_space.high

    agent = Agent(obs_dim, act_dim, args).to(device)
    torch.set_num_threads(threads_for(args.torch_threads, agent))
    value_transform = ValueTransform(args.symlog_transform, args.normalize_v_targets).to(device)
    flat_params = flatten_parameters(agent)
    optimizer = torch.optim.Adam([flat_params], lr=args.learning_rate, eps=1e-5, fused=True)

    normalizer = Normalizer(envs.single_observation_space, args.num_envs, args)
    global_step, first_iteration = 0, 1
    next_obs = normalizer.obs(envs.reset(seed=args.seed)[0]).reshape(args.num_envs, obs_dim)
    if checkpoint is not None:
        agent.load_state_dict(checkpoint["agent"])
        value_transform.load_state_dict(checkpoint["value_transform"])
        load_optimizer(optimizer, checkpoint["optimizer"])
        global_step, first_iteration = checkpoint["global_step"], checkpoint["iteration"] + 1
        set_rng_states(checkpoint["rng"])
        normalizer.load_state_dict(checkpoint["norm_stats"])
        # Classic-control envs come back mid-episode (exact resume); others (MuJoCo, Box2D) start
        # new episodes, with the normalisation statistics they had.
        if set_env_state(envs, checkpoint["envs"]):
            next_obs = checkpoint["next_obs"]
        else:
            normalizer.returns[:] = 0.0
            raw_obs, _ = envs.reset(seed=args.seed + global_step)
            next_obs = normalizer.obs(raw_obs).reshape(args.num_envs, obs_dim)

    def save() -> None:
        state = {
            "agent": agent.state_dict(),
            "value_transform": value_transform.state_dict(),
            "optimizer": optimizer.state_dict(),
            "global_step": global_step,
            "iteration": iteration,
            "rng": rng_states(),
            "envs": env_state(envs),
            "next_obs": next_obs,
            "norm_stats": normalizer.state_dict(),
            "args": vars(args),
        }
        run.save_checkpoint(state)

    # Rollout storage, preallocated once, shapes (num_steps, num_envs, ...). Numpy (cheaper per step
    # than torch indexing); torch views of the same memory for the update.
    obs_np = np.zeros((args.num_steps, args.num_envs, obs_dim), dtype=np.float32)
    final_obs_np = np.zeros((args.num_steps, args.num_envs, obs_dim), dtype=np.float32)
    actions_np = np.zeros((args.num_steps, args.num_envs, act_dim), dtype=np.float32)
    rewards_np = np.zeros((args.num_steps, args.num_envs), dtype=np.float32)
    terminated_np = np.zeros((args.num_steps, args.num_envs), dtype=np.bool_)
    truncated_np = np.zeros((args.num_steps, args.num_envs), dtype=np.bool_)

    iteration = first_iteration - 1
    for iteration in range(first_iteration, num_iterations + 1):
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = args.learning_rate * (1.0 - (iteration - 1.0) / num_iterations)

        with torch.inference_mode():
            # The rollout's policy: the actor frozen in numpy, and all its Gaussian noise at once,
            # a_t = mu(s_t) + std * noise_t.
            actor_mean = numpy_snapshot(agent.actor_mean)
            scaled_noise = torch.randn((args.num_steps, args.num_envs, act_dim), device=device)
            scaled_noise = (scaled_noise * agent.actor_logstd.exp()).cpu().numpy()
        for step in range(args.num_steps):
            global_step += args.num_envs
            obs_np[step] = next_obs
            actions_np[step] = action = actor_mean(next_obs) + scaled_noise[step]

            raw_obs, reward, term, trunc, info = envs.step(action.clip(action_low, action_high))
            # Easy to overlook: a truncated episode bootstraps from its *final* observation,
            # which SAME_STEP autoreset hands over in info["final_obs"] (raw_obs is the reset one).
            # Every final observation updates the statistics before the reset ones, as a per-env
            # normaliser would.
            ended = term | trunc
            if ended.any():
                final_obs = normalizer.obs(np.stack(info["final_obs"][ended])).reshape(-1, obs_dim)
                final_obs_np[step, ended] = final_obs
            next_obs = normalizer.obs(raw_obs).reshape(args.num_envs, obs_dim)
            rewards_np[step] = normalizer.reward(reward, term, trunc)
            terminated_np[step] = term
            truncated_np[step] = trunc
            run.log_episodes(global_step, info)

        with torch.inference_mode():
            obs_buf = torch.from_numpy(obs_np).to(device)
            rollout = (
                obs_buf,
                torch.from_numpy(final_obs_np).to(device),
                torch.as_tensor(next_obs, dtype=torch.float32, device=device).view(args.num_envs, -1),
                torch.from_numpy(rewards_np).to(device),
                torch.from_numpy(terminated_np).to(device),
                torch.from_numpy(truncated_np).to(device),
            )
            values, advantages, returns = compute_advantages(agent, value_transform, rollout, args)
            values_raw = value_transform.decode(values)
            b_obs = obs_buf.view(batch_size, -1)
            b_actions = torch.from_numpy(actions_np).to(device).view(batch_size, -1)
            b_log_probs = gaussian_log_prob(b_actions, agent.actor_mean(b_obs), agent.actor_logstd)
        value_transform.update(returns)
        # The old values re-expressed with the updated statistics, so value clipping compares like with like.
        values = value_transform.encode(values_raw)

        # Learn: epochs of shuffled minibatches over the flattened rollout.
        b_advantages, b_returns, b_values = advantages.view(-1), returns.view(-1), values.view(-1)
        batch = (b_obs, b_actions, b_log_probs, b_advantages, b_returns, b_values)
        all_stats, all_log_ratios = [], []
        for _epoch in range(args.update_epochs):
            perm = torch.randperm(batch_size, device=device)
            for mb in minibatches(batch, perm, args):
                loss, stats, log_ratio = compute_loss(agent, value_transform, mb, args)
                flat_params.grad.zero_()
                loss.backward()
                nn.utils.clip_grad_norm_([flat_params], args.max_grad_norm)
                optimizer.step()
                all_stats.append(stats)
                all_log_ratios.append(log_ratio)
            if (
                args.target_kl is not None
                and approx_kl_and_clipfrac(log_ratio, args.clip_coef)[0] > args.target_kl
            ):
                break

        approx_kl, clipfrac = approx_kl_and_clipfrac(torch.cat(all_log_ratios), args.clip_coef)
        policy_loss, value_loss, entropy = torch.stack(all_stats).mean(0).tolist()
        approx_kl, clipfrac = approx_kl.item(), clipfrac.item()
        losses = {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
        run.check_finite(global_step, losses, agent, value_transform)
        with torch.no_grad():
            y_pred, y_true = values_raw.view(-1), b_returns
            explained_var = (1 - (y_true - y_pred).var() / y_true.var()).item()
        run.log(
            global_step,
            {
                "charts/learning_rate": optimizer.param_groups[0]["lr"],
                "charts/action_std": agent.actor_logstd.exp().mean().item(),
                "losses/policy_loss": policy_loss,
                "losses/value_loss": value_loss,
                "losses/entropy": entropy,
                "losses/approx_kl": approx_kl,
                "losses/clipfrac": clipfrac,
                "losses/explained_variance": explained_var,
            },
        )
        if args.checkpoint_every and global_step // args.checkpoint_every != (
            (global_step - batch_size) // args.checkpoint_every
        ):
            save()
        if run.progress(global_step, f"std {agent.actor_logstd.exp().mean().item():.3f}"):
            break

    # Ctrl-C / SIGTERM (run.stop_signal) also ends here: its checkpoint lets --resume continue.
    if args.save_model or run.stop_signal is not None:
        save()
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
    """Play a saved agent for ``episodes`` episodes (the Gaussian's mean if ``greedy``, else sampled,
    clipped to the action space), observations normalised with the frozen training statistics;
    returns ``{"mean", "std", "returns", "lengths"}`` of the raw episodic return."""
    state = load_checkpoint(checkpoint)
    args = args_from_checkpoint(Args, state)

    def wrap(env):
        if args.norm_obs:
            env = gym.wrappers.NormalizeObservation(env)
            env.obs_rms, env.update_running_mean = state["norm_stats"]["obs_rms"], False
            env = gym.wrappers.TransformObservation(
                env, partial(np.clip, a_min=-args.obs_clip, a_max=args.obs_clip), env.observation_space
            )
        return env

    env = eval_env(args.env_id, checkpoint, capture_video, render, wrap=wrap)
    obs_dim, act_dim = int(np.prod(env.observation_space.shape)), int(np.prod(env.action_space.shape))
    agent = Agent(obs_dim, act_dim, args)
    agent.load_state_dict(state["agent"])
    low, high = env.action_space.low, env.action_space.high

    @torch.inference_mode()
    def act(obs):
        mean = agent.actor_mean(torch.as_tensor(obs, dtype=torch.float32).view(1, -1))[0]
        action = mean if greedy else mean + agent.actor_logstd.exp() * torch.randn_like(mean)
        return np.clip(action.numpy(), low, high)

    return run_episodes(env, act, episodes, seed)


if __name__ == "__main__":
    train(cli(Args))
