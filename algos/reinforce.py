"""REINFORCE (Monte-Carlo policy gradient), Williams 1992, for discrete and continuous actions.

Williams 1992, "Simple Statistical Gradient-Following Algorithms for Connectionist Reinforcement
Learning". The policy gradient estimated from whole episodes (Sutton & Barto 2018, eq. 13.8):

    grad J = E[ sum_t (G_t - b(s_t)) * grad log pi(a_t|s_t) ],   G_t = sum_{k>=t} gamma^(k-t) r_k

plus an entropy bonus ``ent_coef * H[pi(.|s_t)]`` (``ent_coef`` decays linearly to ``ent_coef_end``,
the learning rate to 0; the gradient norm is clipped).
The baseline b (``--baseline``) is one of
- ``none``: b = 0, the plain estimator;
- ``normalize``: the returns of the batch are standardised, (G - mean) / std (SLM-Lab's
  ``center_return``, plus the scale);
- ``value``: a learned V(s) regressed on G_t (Williams' reinforcement baseline; Sutton & Barto 13.4),
  advantages G_t - V(s_t).
Discrete actions: a Categorical from one log_softmax. Continuous actions: a diagonal Gaussian with a
state-independent learned log std (the sampled action is clipped to the bounds for the env only).

Batches. N envs run in a Gymnasium vector env with SAME_STEP autoreset (the step that ends an
episode returns the reset observation; the real final one is in ``info["final_obs"]``). Every
``num_steps`` steps per env the policy is updated on all episodes that *ended* since the last
update. The unfinished part of each env's current episode stays in the buffer and is learned
from once its episode ends (deviation: its first actions were then sampled by an older policy and
no importance weight corrects that; with ``num_envs 1`` and a ``num_steps`` longer than every
episode the estimator is the paper's).

Defaults: for CartPole-v1 (4 envs x 128 steps, Adam 2e-3 annealed, ``--baseline normalize``): 498.4 at
200k steps (mean of seeds 1-4; docs/BENCHMARKS.md).
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh classic --print-jobs --rerun --seeds 1 --algos reinforce --envs LunarLander``.

Termination ends the return (G after a terminal state is 0). A time-limit truncation bootstraps,
``G_T = r_T + gamma * V(final_obs)``, with the critic evaluated on ``info["final_obs"]`` at that step
when ``--baseline value``; without a critic the return is the discounted sum of the rewards seen (V = 0).
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
from common.returns import discounted_returns
from common.runs import Run


@dataclass
class Args:
    exp_name: str = "reinforce"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "CartPole-v1"
    """Gymnasium id of an env with a Discrete or Box action space"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 200_000
    """env steps to train for, summed over the parallel envs"""
    num_envs: int = 4
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """sync steps envs in this process (fastest on few cores); async uses one process per env"""
    num_steps: int = 128
    """steps per env between updates; each update learns from the episodes that ended meanwhile"""
    learning_rate: float = 2e-3
    """Adam learning rate"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0"""
    gamma: float = 0.99
    """discount factor"""
    baseline: Literal["none", "normalize", "value"] = "normalize"
    """none: G_t; normalize: standardised G_t in each batch; value: G_t - V(s_t) with a learned V"""
    ent_coef: float = 0.001
    """entropy bonus coefficient at the start"""
    ent_coef_end: float = 0.0
    """entropy bonus coefficient at the end (linear decay over training)"""
    vf_coef: float = 0.5
    """value loss coefficient (``--baseline value``)"""
    max_grad_norm: float = 0.5
    """global gradient-norm clip"""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """hidden layer widths of the policy (and of the critic)"""
    activation: Literal["tanh", "relu"] = "tanh"
    """activation of the hidden layers"""
    layer_norm: bool = False
    """LayerNorm after each hidden linear layer"""
    init_log_std: float = 0.0
    """initial log standard deviation of the Gaussian policy (continuous actions)"""
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
RESUME_MUST_MATCH = ("env_id", "num_envs", "hidden_sizes", "activation", "layer_norm", "baseline")


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


class Policy(nn.Module):
    """The actor (logits, or Gaussian means with a learned log std) and, for ``--baseline value``,
    a separate critic MLP."""

    def __init__(self, obs_dim: int, action_space: gym.Space, args: Args):
        super().__init__()
        hidden = list(args.hidden_sizes)
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        n_out = int(action_space.n) if self.discrete else int(np.prod(action_space.shape))
        self.actor = mlp([obs_dim, *hidden, n_out], args.activation, args.layer_norm, 0.01)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((n_out,), args.init_log_std))
        self.critic = None
        if args.baseline == "value":
            self.critic = mlp([obs_dim, *hidden, 1], args.activation, args.layer_norm, 1.0)

    def sample(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.actor(obs)
        if self.discrete:
            return torch.multinomial(out.softmax(1), 1).squeeze(1)
        return out + self.log_std.exp() * torch.randn_like(out)

    def log_prob_entropy(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi(a|s) and the entropy H[pi(.|s)], both of shape (B,)."""
        out = self.actor(obs)
        if self.discrete:
            log_probs_all = torch.log_softmax(out, dim=-1)
            log_probs = log_probs_all.gather(1, actions.unsqueeze(1)).squeeze(1)
            return log_probs, -(log_probs_all.exp() * log_probs_all).sum(-1)
        # diagonal Gaussian: log N(a; mu, sigma) = -((a - mu) / sigma)^2 / 2 - log sigma - log(2 pi) / 2
        z = (actions - out) / self.log_std.exp()
        log_probs = (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        entropy = (self.log_std + 0.5 * math.log(2 * math.pi * math.e)).sum().expand(obs.shape[0])
        return log_probs, entropy


def episode_returns(episodes: dict[str, torch.Tensor], gamma: float) -> torch.Tensor:
    """Monte-Carlo returns G_t of whole episodes laid out as (T, N) columns (each column a run of
    complete episodes of one env) from their rewards, terminated and truncated flags and final values.

    ``final_values``: V(final_obs) on truncated rows (0 without a critic), ignored elsewhere. A
    terminated episode's return ends with its last reward; a truncated one adds gamma * V(final_obs).
    """
    terminated, truncated = episodes["terminated"], episodes["truncated"]
    next_values = torch.where(truncated, episodes["final_values"], 0.0)
    return discounted_returns(episodes["rewards"], next_values, terminated, terminated | truncated, gamma)


def step_envs(envs, critic, actions: torch.Tensor):
    """Take ``actions`` in all envs. Returns ``(next_obs, rewards, terminated, truncated, final_values,
    info)``; ``final_values[n]`` is V(final_obs) of a truncated env n when there is a critic, else 0."""
    next_obs, rewards, terminated, truncated, info = envs.step(actions.cpu().numpy())
    final_values = torch.zeros(len(truncated), device=actions.device)
    # Easy to overlook: a truncated episode's return bootstraps from V(final obs), which SAME_STEP
    # autoreset hands over in info["final_obs"] (next_obs is already the reset observation).
    if critic is not None and truncated.any():
        final_obs = torch.as_tensor(np.stack(info["final_obs"][truncated]), dtype=torch.float32)
        idx = torch.as_tensor(np.flatnonzero(truncated), device=actions.device)
        final_values[idx] = critic(final_obs.to(actions.device).view(len(idx), -1)).squeeze(1)
    return next_obs, rewards, terminated, truncated, final_values, info


def compute_loss(policy: Policy, obs, actions, returns, ent_coef: float, args: Args):
    """REINFORCE loss on a flat batch of B steps of complete episodes. Returns the loss and a tensor
    [policy_loss, value_loss, entropy]."""
    log_probs, entropy = policy.log_prob_entropy(obs, actions)
    value_loss = torch.zeros((), device=obs.device)
    if args.baseline == "normalize":  # the std of a single step is NaN: its advantage is 0
        advantages = (returns - returns.mean()) / (returns.std().nan_to_num() + 1e-8)
    elif args.baseline == "value":
        values = policy.critic(obs).squeeze(1)
        advantages = returns - values.detach()
        value_loss = 0.5 * (values - returns).pow(2).mean()
    else:
        advantages = returns
    policy_loss = -(advantages * log_probs).mean()
    entropy = entropy.mean()
    loss = policy_loss - ent_coef * entropy + args.vf_coef * value_loss
    return loss, torch.stack([policy_loss.detach(), value_loss.detach(), entropy.detach()])


def split_episodes(episodes: dict[str, torch.Tensor], first_rows: torch.Tensor):
    """Split the (L, N) steps of ``episodes`` into the complete episodes and the unfinished rest.

    Column n holds env n's steps from row ``first_rows[n]`` on (rows above it are padding). Returns
    the (L, N) mask of the rows of complete episodes (up to each column's last done) and the
    number of rows after it per column, i.e. the unfinished episode's length so far.
    """
    L = episodes["rewards"].shape[0]
    rows = torch.arange(L, device=first_rows.device).unsqueeze(1)
    dones = episodes["terminated"] | episodes["truncated"]
    last_done = torch.where(dones, rows, -1).amax(0) if L else torch.full_like(first_rows, -1)
    complete = (rows >= first_rows) & (rows <= last_done)
    unfinished = torch.where(last_done >= 0, L - 1 - last_done, L - first_rows)
    return complete, unfinished


def train(args: Args, report=None) -> dict:
    check_args(args)
    spaces = (gym.spaces.Discrete, gym.spaces.Box)
    check_action_space(args.env_id, spaces, use_instead="an env with Discrete or Box actions")
    N = args.num_envs
    batch_size = args.num_steps * N
    num_iterations = whole_rollouts(args.total_timesteps, batch_size)
    run = Run(args, report, RESUME_MUST_MATCH)
    device = run.device
    envs = make_envs(args, str(run.dir / "videos"))
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    action_space = envs.single_action_space
    discrete = isinstance(action_space, gym.spaces.Discrete)
    if not discrete:  # the env gets the sampled action clipped to its bounds
        low, high = torch.as_tensor(np.stack([action_space.low, action_space.high]), device=device)

    policy = Policy(obs_dim, action_space, args).to(device)
    optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate, eps=1e-5, foreach=True)
    next_obs, _ = envs.reset(seed=args.seed)
    global_step, next_obs = run.resume(envs, next_obs, policy=policy, optimizer=optimizer)

    # Rollout storage, preallocated once, shapes (num_steps, N, ...), and the steps of the episodes
    # still running at the last update (the unfinished rest), shapes (R, N, ...), right-aligned:
    # env n's are its last unfinished[n] rows, so that each rollout continues them row by row.
    action_dtype = torch.long if discrete else torch.float32

    def zeros(rows: int) -> dict[str, torch.Tensor]:
        return {
            "obs": torch.zeros((rows, N, obs_dim), device=device),
            "actions": torch.zeros((rows, N, *action_space.shape), dtype=action_dtype, device=device),
            "rewards": torch.zeros((rows, N), device=device),
            "terminated": torch.zeros((rows, N), dtype=torch.bool, device=device),
            "truncated": torch.zeros((rows, N), dtype=torch.bool, device=device),
            "final_values": torch.zeros((rows, N), device=device),  # V(final obs) where truncated
        }

    rollout, rest = zeros(args.num_steps), zeros(0)
    unfinished = torch.zeros(N, dtype=torch.long, device=device)
    entropy = float("nan")
    if run.mid_episode:  # classic control: the unfinished episodes go on (else new episodes start)
        rest = {k: v.to(device) for k, v in run.loop["rest"].items()}
        unfinished = run.loop["unfinished"].to(device)

    for iteration in range(global_step // batch_size + 1, num_iterations + 1):
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = args.learning_rate * (1.0 - (iteration - 1.0) / num_iterations)
        with torch.inference_mode():
            for step in range(args.num_steps):
                global_step += N
                obs = torch.as_tensor(next_obs, dtype=torch.float32, device=device).view(N, -1)
                action = policy.sample(obs)
                rollout["obs"][step] = obs
                rollout["actions"][step] = action
                env_action = action if discrete else action.clamp(low, high)
                next_obs, reward, term, trunc, final_values, info = step_envs(envs, policy.critic, env_action)
                rollout["rewards"][step] = torch.as_tensor(reward, device=device)
                rollout["terminated"][step] = torch.as_tensor(term, device=device)
                rollout["truncated"][step] = torch.as_tensor(trunc, device=device)
                rollout["final_values"][step] = final_values
                run.log_episodes(global_step, info)

        # Learn from the episodes that ended: the unfinished rest followed by this rollout.
        episodes = {k: torch.cat([rest[k], rollout[k]]) for k in rollout}
        complete, unfinished = split_episodes(episodes, first_rows=rest["rewards"].shape[0] - unfinished)
        rest = {k: v[v.shape[0] - int(unfinished.max()) :] for k, v in episodes.items()}
        if complete.any():
            returns = episode_returns(episodes, args.gamma)
            frac = (iteration - 1) / max(num_iterations - 1, 1)
            ent_coef = args.ent_coef + frac * (args.ent_coef_end - args.ent_coef)
            obs, actions = episodes["obs"][complete], episodes["actions"][complete]
            loss, stats = compute_loss(policy, obs, actions, returns[complete], ent_coef, args)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm, foreach=True)
            optimizer.step()

            policy_loss, value_loss, entropy = stats.tolist()
            losses = {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
            run.check_finite(global_step, losses, policy)
            losses |= {"ent_coef": ent_coef, "batch_steps": int(complete.sum())}
            run.log(global_step, {"charts/learning_rate": optimizer.param_groups[0]["lr"]})
            run.log(global_step, {f"losses/{name}": value for name, value in losses.items()})
        if run.progress(global_step, f"entropy {entropy:.3f}", next_obs, rest=rest, unfinished=unfinished):
            break
    return run.finish(global_step, next_obs, rest=rest, unfinished=unfinished)


def policy(state: dict, args: Args, env, greedy: bool):
    """The saved policy as ``act(obs) -> action`` for evaluate.py: the most likely action (the Gaussian
    mean) if ``greedy``, else a sampled one (clipped to the bounds)."""
    net = Policy(int(np.prod(env.observation_space.shape)), env.action_space, args)
    net.load_state_dict(state["policy"])

    def act(obs):
        obs = torch.as_tensor(obs, dtype=torch.float32).view(1, -1)
        action = net.actor(obs) if greedy else net.sample(obs)
        if net.discrete:
            return int(action.argmax() if greedy else action)
        return np.clip(action[0].numpy(), env.action_space.low, env.action_space.high)

    return act


if __name__ == "__main__":
    train(cli(Args))
