"""A2C for discrete actions: Mnih et al. 2016, "Asynchronous Methods for Deep Reinforcement Learning".

The synchronous variant (OpenAI baselines' A2C): one gradient step on each rollout of
``num_envs * num_steps`` transitions, on the policy-gradient loss

    L_pi = -E_t[ A_t * log pi(a_t|s_t) ]

plus a value loss ``vf_coef * (V(s_t) - R_t)^2`` and an entropy bonus ``ent_coef * H[pi(.|s_t)]``.
Advantages A_t are GAE(lambda) (Schulman et al. 2016) and R_t = A_t + V(s_t). With
``--gae-lambda 1.0`` they are the paper's n-step returns: each step bootstraps from the value at the
rollout's end, up to ``num_steps`` steps ahead (A3C's t_max; truncations and terminations cut it).

Written as ppo.py minus what PPO adds: ``diff algos/a2c.py algos/ppo.py`` shows the clipped ratio
(and the old log-probabilities it needs), the value clipping, the epochs and the minibatches.
Options beyond the paper: Adam or AdamW instead of RMSprop (``--optimizer``, ``--weight-decay``),
``normalize_v_targets``, ``symlog_transform`` (as ppo.py), learning-rate annealing, advantage
normalisation, global gradient-norm clipping. Actor and critic are separate MLPs (the paper shares a trunk).

Defaults: tuned for CartPole-v1 with tuning/tune.py, rounded, with lr 7e-3: mean of the last 100
episodes 500 at 200k steps (seeds 1-6; the tuning: benchmarks/notes.md).
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh classic --print-jobs --rerun --seeds 1 --algos a2c --envs LunarLander``.

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``. Only termination zeroes the bootstrap; a time-limit truncation
bootstraps from V(final observation), computed at that step (CleanRL's PPO scripts treat it as termination).
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
from common.returns import gae, next_values_from
from common.runs import Run
from common.value_transform import ValueTransform


@dataclass
class Args:
    exp_name: str = "a2c"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "CartPole-v1"
    """Gymnasium id of an env with a discrete action space"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 200_000
    """env steps to train for, summed over the parallel envs"""
    num_envs: int = 8
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """sync steps envs in this process (fastest on few cores); async uses one process per env"""
    num_steps: int = 32
    """steps per env in each rollout"""
    learning_rate: float = 7e-3
    """learning rate of the optimizer"""
    optimizer: Literal["rmsprop", "adam", "adamw"] = "rmsprop"
    """RMSprop (alpha 0.99, eps 1e-5, as the paper), Adam (eps 1e-5) or AdamW (Adam, decoupled weight decay)"""
    weight_decay: float = 0.0
    """weight decay: decoupled with adamw (Loshchilov & Hutter 2019), an L2 term in the gradient otherwise"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0"""
    gamma: float = 0.995
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of GAE"""
    norm_adv: bool = False
    """standardise advantages within each rollout"""
    normalize_v_targets: bool = False
    """the critic predicts returns standardised by running mean and std"""
    symlog_transform: bool = False
    """the critic predicts symlog(returns) (DreamerV3)"""
    ent_coef: float = 5e-4
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.3
    """global gradient-norm clip"""
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
RESUME_MUST_MATCH = (
    "env_id",
    "num_envs",
    "hidden_sizes",
    "activation",
    "layer_norm",
    "normalize_v_targets",
    "symlog_transform",
)


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


class Agent(nn.Module):
    """Separate actor (logits) and critic (value) MLPs."""

    def __init__(self, obs_dim: int, n_actions: int, args: Args):
        super().__init__()
        hidden = list(args.hidden_sizes)
        self.actor = mlp([obs_dim, *hidden, n_actions], args.activation, args.layer_norm, 0.01)
        self.critic = mlp([obs_dim, *hidden, 1], args.activation, args.layer_norm, 1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """observations (N, ...) -> (logits (N, A), values (N,))."""
        x = obs.float().flatten(1)
        return self.actor(x), self.critic(x).squeeze(1)


def compute_loss(agent, value_transform, mb, args: Args):
    """A2C loss on one minibatch ``mb``, the whole rollout (obs, actions, advantages, returns).

    Returns the total loss and a tensor of [policy_loss, value_loss, entropy].
    """
    obs, actions, advantages, returns = mb
    logits, v_pred = agent(obs)
    log_probs_all = torch.log_softmax(logits, dim=-1)
    log_probs = log_probs_all.gather(1, actions.unsqueeze(1)).squeeze(1)
    entropy = -(log_probs_all.exp() * log_probs_all).sum(-1).mean()
    if args.norm_adv:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = -(advantages * log_probs).mean()

    # The critic regresses (transformed) returns.
    v_targets = value_transform.encode(returns)
    value_loss = 0.5 * ((v_pred - v_targets) ** 2).mean()

    loss = policy_loss - args.ent_coef * entropy + args.vf_coef * value_loss
    stats = torch.stack([policy_loss.detach(), value_loss.detach(), entropy.detach()])
    return loss, stats


def train(args: Args, report=None) -> dict:
    check_args(args)
    check_action_space(args.env_id, gym.spaces.Discrete, use_instead="algos/a2c_continuous.py")
    batch_size = args.num_envs * args.num_steps
    num_iterations = whole_rollouts(args.total_timesteps, batch_size)
    run = Run(args, report, RESUME_MUST_MATCH)
    device = run.device
    envs = make_envs(args, str(run.dir / "videos"))
    obs_shape = envs.single_observation_space.shape

    agent = Agent(int(np.prod(obs_shape)), int(envs.single_action_space.n), args).to(device)
    value_transform = ValueTransform(args.symlog_transform, args.normalize_v_targets).to(device)
    optimizers = {"rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    optimizer = optimizers[args.optimizer](
        agent.parameters(), lr=args.learning_rate, eps=1e-5, weight_decay=args.weight_decay, foreach=True
    )
    next_obs, _ = envs.reset(seed=args.seed)
    global_step, next_obs = run.resume(
        envs, next_obs, agent=agent, value_transform=value_transform, optimizer=optimizer
    )

    # Rollout storage, preallocated once, shapes (num_steps, num_envs, ...).
    obs_buf = torch.zeros((args.num_steps, args.num_envs, *obs_shape), device=device)
    actions = torch.zeros((args.num_steps, args.num_envs), dtype=torch.long, device=device)
    rewards = torch.zeros((args.num_steps, args.num_envs), device=device)
    terminated = torch.zeros((args.num_steps, args.num_envs), dtype=torch.bool, device=device)
    truncated = torch.zeros((args.num_steps, args.num_envs), dtype=torch.bool, device=device)
    values = torch.zeros((args.num_steps, args.num_envs), device=device)  # critic space
    final_values = torch.zeros((args.num_steps, args.num_envs), device=device)  # return space

    for iteration in range(global_step // batch_size + 1, num_iterations + 1):
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = args.learning_rate * (1.0 - (iteration - 1.0) / num_iterations)

        with torch.no_grad():  # not inference_mode: the update takes gradients through these tensors
            for step in range(args.num_steps):
                global_step += args.num_envs
                obs = torch.as_tensor(next_obs, device=device)
                obs_buf[step] = obs
                logits, value = agent(obs)
                action = torch.multinomial(logits.softmax(1), 1).squeeze(1)
                actions[step] = action
                values[step] = value

                next_obs, reward, term, trunc, info = envs.step(action.cpu().numpy())
                rewards[step] = torch.as_tensor(reward, device=device)
                terminated[step] = torch.as_tensor(term, device=device)
                truncated[step] = torch.as_tensor(trunc, device=device)
                # Easy to overlook: a truncated episode bootstraps from its *final* observation,
                # which SAME_STEP autoreset hands over in info["final_obs"] (next_obs is the reset one).
                if trunc.any():
                    final_obs = torch.as_tensor(np.stack(info["final_obs"][trunc]), device=device)
                    final_v = agent(final_obs)[1]
                    final_values[step, torch.as_tensor(trunc, device=device)] = value_transform.decode(
                        final_v
                    )
                run.log_episodes(global_step, info)

            last_values = value_transform.decode(agent(torch.as_tensor(next_obs, device=device))[1])
            values_raw = value_transform.decode(values)
            next_values = next_values_from(values_raw, last_values, final_values, truncated)
            advantages, returns = gae(
                rewards,
                values_raw,
                next_values,
                terminated,
                terminated | truncated,
                args.gamma,
                args.gae_lambda,
            )
        value_transform.update(returns)

        # Learn: one gradient step on the whole rollout.
        b_obs, b_actions = obs_buf.flatten(0, 1), actions.view(-1)
        b_advantages, b_returns = advantages.view(-1), returns.view(-1)
        mb = (b_obs, b_actions, b_advantages, b_returns)
        loss, stats = compute_loss(agent, value_transform, mb, args)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm, foreach=True)
        optimizer.step()

        policy_loss, value_loss, entropy = stats.tolist()
        losses = {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
        run.check_finite(global_step, losses, agent, value_transform)
        with torch.no_grad():
            y_pred, y_true = values_raw.view(-1), b_returns
            explained_var = (1 - (y_true - y_pred).var() / y_true.var()).item()
        run.log(
            global_step,
            {
                "charts/learning_rate": optimizer.param_groups[0]["lr"],
                "losses/policy_loss": policy_loss,
                "losses/value_loss": value_loss,
                "losses/entropy": entropy,
                "losses/explained_variance": explained_var,
            },
        )
        if run.progress(global_step, f"entropy {entropy:.3f}", next_obs):
            break
    return run.finish(global_step, next_obs)


def policy(state: dict, args: Args, env, greedy: bool):
    """The saved agent as ``act(obs) -> action`` for evaluate.py: the argmax action, or a sampled one."""
    agent = Agent(int(np.prod(env.observation_space.shape)), int(env.action_space.n), args)
    agent.load_state_dict(state["agent"])

    def act(obs):
        logits, _ = agent(torch.as_tensor(obs).unsqueeze(0))
        return int(logits.argmax() if greedy else torch.multinomial(logits.softmax(-1), 1))

    return act


if __name__ == "__main__":
    train(cli(Args))
