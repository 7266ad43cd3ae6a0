"""Deep SARSA: on-policy TD control (Rummery & Niranjan 1994; Sutton & Barto 2018, section 10.1)
with a neural Q-function, discrete actions.

Q(s, a) regresses the on-policy one-step target (Sutton & Barto eq. 10.1)

    y_t = r_t + gamma * (1 - terminated_t) * Q(s_{t+1}, a_{t+1})

where a_{t+1} is the action the behaviour policy actually takes next: epsilon-greedy or Boltzmann
(softmax(Q / tau)) on Q, with epsilon or tau decayed linearly (``exploration_fraction``). Unlike
Q-learning there is no max and no replay buffer: the network learns from batches of fresh
transitions, ``num_steps`` steps of each of ``num_envs`` envs (``update_epochs`` passes of
``num_minibatches`` minibatches, MSE or Huber loss, learning rate annealed linearly to 0). The
targets of a batch are computed with the network that collected it (frozen during the update,
like a target network renewed every batch); they are the Q-values already computed to act, so
they cost no extra forward pass. Deviations from the tabular algorithm: batches instead of one
update per step, and the several passes over each batch (both for stability with a network).

Defaults: for CartPole-v1 (4 envs x 32 steps, Adam 5e-4 annealed, epsilon 1 to 0.01 over the first 10%):
499.7 at 200k steps (mean of seeds 1-4; docs/BENCHMARKS.md).
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh classic --print-jobs --rerun --seeds 1 --algos sarsa --envs LunarLander``.

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``. Termination zeroes the bootstrap (no a' needed). A time-limit
truncation's target is r + gamma * Q(final_obs, a'), a' drawn from the behaviour policy at the real final
observation (the env never acts there, but a' samples the action it would take: all SARSA asks for).
The action chosen at the reset observation is the next episode's first, not the truncated transition's a'.
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
from common.returns import td_targets
from common.runs import Run


@dataclass
class Args:
    exp_name: str = "sarsa"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "CartPole-v1"
    """Gymnasium id of an env with a discrete action space"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 200_000
    """env steps to train for, summed over the parallel envs"""
    num_envs: int = 4
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """sync steps envs in this process (fastest on few cores); async uses one process per env"""
    num_steps: int = 32
    """steps per env in each batch of on-policy transitions"""
    learning_rate: float = 5e-4
    """Adam learning rate"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0"""
    gamma: float = 0.99
    """discount factor"""
    exploration: Literal["epsilon", "boltzmann"] = "epsilon"
    """behaviour policy: epsilon-greedy or Boltzmann (softmax of Q / tau)"""
    start_e: float = 1.0
    """epsilon (or tau for Boltzmann) at the start"""
    end_e: float = 0.01
    """epsilon (or tau for Boltzmann) at the end of the decay"""
    exploration_fraction: float = 0.1
    """fraction of total_timesteps over which epsilon (or tau) decays linearly"""
    update_epochs: int = 4
    """passes over each batch"""
    num_minibatches: int = 4
    """minibatches per pass (must divide num_envs * num_steps)"""
    loss: Literal["mse", "huber"] = "mse"
    """regression loss of Q(s, a) on the SARSA target"""
    max_grad_norm: float = 10.0
    """global gradient-norm clip"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer widths of the Q-network"""
    activation: Literal["tanh", "relu"] = "relu"
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
RESUME_MUST_MATCH = ("env_id", "num_envs", "hidden_sizes", "activation", "layer_norm")


def mlp(sizes, activation, layer_norm: bool) -> nn.Sequential:
    """Linear layers with PyTorch's default init; LayerNorm and the activation between them."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers += [nn.LayerNorm(n_out), act()] if layer_norm else [act()]
    return nn.Sequential(*layers)


class QNetwork(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int, args: Args):
        super().__init__()
        self.net = mlp([obs_dim, *args.hidden_sizes, n_actions], args.activation, args.layer_norm)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


def behaviour_actions(q_values: torch.Tensor, exploration: str, epsilon_or_tau: float) -> torch.Tensor:
    """Sample actions (B,) from the behaviour policy on Q-values (B, A)."""
    if exploration == "boltzmann":  # softmax(Q / tau)
        return torch.multinomial(torch.softmax(q_values / max(epsilon_or_tau, 1e-8), 1), 1).squeeze(1)
    greedy = q_values.argmax(dim=1)
    random = torch.randint_like(greedy, q_values.shape[1])
    explore = torch.rand(greedy.shape, device=q_values.device) < epsilon_or_tau
    return torch.where(explore, random, greedy)


def step_envs(envs, q_network, actions: torch.Tensor, exploration: str, epsilon_or_tau: float):
    """Take ``actions`` in all envs and choose the next ones. Returns
    ``(next_obs, next_actions, rewards, terminated, truncated, next_q, info)`` where ``next_actions``
    are the actions to take at ``next_obs`` and ``next_q[n] = Q(s', a')`` is the bootstrap value of
    this transition: s' the observation after the step and a' the action taken there, except for a
    truncated env, where s' is the real final observation ``info["final_obs"][n]`` and a' is drawn
    from the behaviour policy there (next_obs is already the reset observation of a new episode)."""
    next_obs, rewards, terminated, truncated, info = envs.step(actions.cpu().numpy())
    device = actions.device
    obs = torch.as_tensor(next_obs, dtype=torch.float32, device=device).view(len(next_obs), -1)
    q_values = q_network(obs)
    next_actions = behaviour_actions(q_values, exploration, epsilon_or_tau)
    next_q = q_values.gather(1, next_actions.unsqueeze(1)).squeeze(1)
    # Easy to overlook: after a truncation, Q(s', a') is taken at the final observation, with a'
    # sampled there; the reset observation and its action belong to the next episode.
    if truncated.any():
        final_obs = torch.as_tensor(
            np.stack(info["final_obs"][truncated]), dtype=torch.float32, device=device
        )
        final_q_values = q_network(final_obs.view(len(final_obs), -1))
        final_actions = behaviour_actions(final_q_values, exploration, epsilon_or_tau)
        idx = torch.as_tensor(np.flatnonzero(truncated), device=device)
        next_q[idx] = final_q_values.gather(1, final_actions.unsqueeze(1)).squeeze(1)
    return next_obs, next_actions, rewards, terminated, truncated, next_q, info


def sarsa_targets(
    rewards: torch.Tensor, next_q: torch.Tensor, terminated: torch.Tensor, gamma: float
) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * Q(s', a') (any shape); ``next_q`` from :func:`step_envs`
    (at a truncation it is Q(final_obs, a'); at a termination it is ignored)."""
    return td_targets(rewards, next_q, terminated, gamma)


def compute_loss(q_network, obs, actions, q_targets, loss_type: str):
    """Regression of Q(s, a) on the SARSA targets; returns the loss and the mean Q(s, a)."""
    q_taken = q_network(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
    loss = nn.functional.smooth_l1_loss if loss_type == "huber" else nn.functional.mse_loss
    return loss(q_taken, q_targets), q_taken.detach().mean()


def linear_schedule(start: float, end: float, duration: float, t: int) -> float:
    return end if duration <= 0 else start + min(t / duration, 1.0) * (end - start)


def train(args: Args, report=None) -> dict:
    check_args(args)
    check_action_space(
        args.env_id, gym.spaces.Discrete, use_instead="algos/reinforce.py (or algos/ppo_continuous.py)"
    )
    batch_size = args.num_envs * args.num_steps
    minibatch_size = batch_size // args.num_minibatches
    num_iterations = whole_rollouts(args.total_timesteps, batch_size)
    run = Run(args, report, RESUME_MUST_MATCH)
    device = run.device
    envs = make_envs(args, str(run.dir / "videos"))
    obs_dim = int(np.prod(envs.single_observation_space.shape))

    q_network = QNetwork(obs_dim, int(envs.single_action_space.n), args).to(device)
    optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate, foreach=True)
    decay_steps = args.exploration_fraction * args.total_timesteps
    schedule = "epsilon" if args.exploration == "epsilon" else "tau"
    next_obs, _ = envs.reset(seed=args.seed)
    global_step, next_obs = run.resume(envs, next_obs, q_network=q_network, optimizer=optimizer)
    # SARSA's a': the actions already chosen at next_obs, kept across batches (and checkpoints)
    next_actions = run.loop["next_actions"].to(device) if run.mid_episode else None

    # Batch storage, preallocated once, shapes (num_steps, num_envs, ...).
    obs_buf = torch.zeros((args.num_steps, args.num_envs, obs_dim), device=device)
    actions = torch.zeros((args.num_steps, args.num_envs), dtype=torch.long, device=device)
    rewards = torch.zeros((args.num_steps, args.num_envs), device=device)
    terminated = torch.zeros((args.num_steps, args.num_envs), dtype=torch.bool, device=device)
    next_q = torch.zeros((args.num_steps, args.num_envs), device=device)  # Q(s'_t, a'_t)

    for iteration in range(global_step // batch_size + 1, num_iterations + 1):
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = args.learning_rate * (1.0 - (iteration - 1.0) / num_iterations)
        epsilon = linear_schedule(args.start_e, args.end_e, decay_steps, global_step)
        with torch.no_grad():
            for step in range(args.num_steps):
                global_step += args.num_envs
                obs = torch.as_tensor(next_obs, dtype=torch.float32, device=device).view(args.num_envs, -1)
                obs_buf[step] = obs
                if next_actions is None:  # the first actions of the run (or of new episodes after a resume)
                    next_actions = behaviour_actions(q_network(obs), args.exploration, epsilon)
                actions[step] = next_actions
                next_obs, next_actions, reward, term, _trunc, bootstrap_q, info = step_envs(
                    envs, q_network, next_actions, args.exploration, epsilon
                )
                next_q[step] = bootstrap_q
                rewards[step] = torch.as_tensor(reward, device=device)
                terminated[step] = torch.as_tensor(term, device=device)
                run.log_episodes(global_step, info)
            q_targets = sarsa_targets(rewards, next_q, terminated, args.gamma)

        b_obs, b_actions, b_q_targets = obs_buf.view(batch_size, -1), actions.view(-1), q_targets.view(-1)
        all_stats = []
        for _epoch in range(args.update_epochs):
            perm = torch.randperm(batch_size, device=device) if args.num_minibatches > 1 else None
            for start in range(0, batch_size, minibatch_size):
                idx = perm[start : start + minibatch_size] if perm is not None else slice(None)
                loss, q_mean = compute_loss(
                    q_network, b_obs[idx], b_actions[idx], b_q_targets[idx], args.loss
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(q_network.parameters(), args.max_grad_norm, foreach=True)
                optimizer.step()
                all_stats.append(torch.stack([loss.detach(), q_mean]))

        q_loss, q_values = torch.stack(all_stats).mean(0).tolist()
        run.check_finite(global_step, {"q_loss": q_loss}, q_network)
        run.log(
            global_step,
            {
                "charts/learning_rate": optimizer.param_groups[0]["lr"],
                f"charts/{schedule}": epsilon,
                "losses/qf_loss": q_loss,
                "losses/q_values": q_values,
            },
        )
        if run.progress(global_step, f"{schedule} {epsilon:.3f}", next_obs, next_actions=next_actions):
            break
    return run.finish(global_step, next_obs, next_actions=next_actions)


def policy(state: dict, args: Args, env, greedy: bool):
    """The saved Q-network as ``act(obs) -> action`` for evaluate.py: argmax_a Q(s, a) if ``greedy``, else
    the behaviour policy at its final epsilon or tau."""
    q_network = QNetwork(int(np.prod(env.observation_space.shape)), int(env.action_space.n), args)
    q_network.load_state_dict(state["q_network"])

    def act(obs):
        q_values = q_network(torch.as_tensor(obs, dtype=torch.float32).view(1, -1))
        return int(
            q_values.argmax() if greedy else behaviour_actions(q_values, args.exploration, args.end_e)[0]
        )

    return act


if __name__ == "__main__":
    train(cli(Args))
