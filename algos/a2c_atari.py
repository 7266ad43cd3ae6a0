"""A2C for Atari: Mnih et al. 2016, "Asynchronous Methods for Deep Reinforcement Learning".

The synchronous variant (OpenAI baselines' A2C): one gradient step on each rollout of
``num_envs * num_steps`` transitions, on the policy-gradient loss

    L_pi = -E_t[ A_t * log pi(a_t|s_t) ]

plus a value loss ``vf_coef * (V(s_t) - R_t)^2`` and an entropy bonus ``ent_coef * H[pi(.|s_t)]``.
Advantages A_t are GAE(lambda) (Schulman et al. 2016) and R_t = A_t + V(s_t); ``--gae-lambda 1.0``
(default) gives the paper's n-step returns, bootstrapped from the value at the rollout's end.
Actor and critic share the Nature CNN trunk of Mnih et al. 2015 (uint8 frames, scaled in the network).
The env is ``ALE/<Game>-v5`` from common/atari.py (its docstring: what each setting does to the scores):
the logged return is the raw score of a whole game, the learner sees sign(r).

Written as ppo_atari.py minus what PPO adds (``diff`` shows the clipped ratio, the value clipping,
the epochs and the minibatches), as a2c.py is to ppo.py. Options beyond the paper: Adam or AdamW
instead of RMSprop (``--optimizer``, ``--weight-decay``), ``normalize_v_targets``,
``symlog_transform`` (as ppo.py), learning-rate annealing, advantage normalisation, global
gradient-norm clipping.

Defaults: OpenAI baselines' A2C for Atari (5 steps, RMSprop 7e-4 with alpha 0.99 and eps 1e-5, annealed;
entropy 0.01) on 16 envs (the paper's 16 threads); GAE 1.0 (SLM-Lab's "A2C-GAE" uses 0.95); 10M steps.
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh atari --print-jobs --rerun --seeds 1 --algos a2c_atari --envs Pong``.

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``. Only termination zeroes the bootstrap; a time-limit truncation
bootstraps from V(final observation), computed at that step (CleanRL's PPO scripts treat it as termination).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common.atari import AtariEnvArgs, check_atari, make_envs
from common.checks import check_args, whole_rollouts
from common.cli import cli
from common.returns import gae, next_values_from
from common.runs import Run
from common.value_transform import ValueTransform


@dataclass
class Args(AtariEnvArgs):
    exp_name: str = "a2c_atari"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "ALE/Breakout-v5"
    """ALE id (``ALE/<Game>-v5``)"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 10_000_000
    """env steps to train for, summed over the parallel envs"""
    num_envs: int = 16
    """parallel envs in the vector env"""
    vector_mode: Literal["sync", "async"] = "sync"
    """sync steps envs in this process (fastest on few cores); async uses one process per env"""
    num_steps: int = 5
    """steps per env in each rollout"""
    learning_rate: float = 7e-4
    """learning rate of the optimizer"""
    optimizer: Literal["rmsprop", "adam", "adamw"] = "rmsprop"
    """RMSprop (alpha 0.99, eps 1e-5, as the paper), Adam (eps 1e-5) or AdamW (Adam, decoupled weight decay)"""
    weight_decay: float = 0.0
    """weight decay: decoupled with adamw (Loshchilov & Hutter 2019), an L2 term in the gradient otherwise"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 1.0
    """lambda of GAE"""
    norm_adv: bool = False
    """standardise advantages within each rollout"""
    normalize_v_targets: bool = False
    """the critic predicts returns standardised by running mean and std"""
    symlog_transform: bool = False
    """the critic predicts symlog(returns) (DreamerV3)"""
    ent_coef: float = 0.01
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """global gradient-norm clip"""
    hidden_sizes: tuple[int, ...] = (512,)
    """widths of the dense layers after the Nature CNN's convolutions (shared by actor and critic)"""
    activation: Literal["tanh", "relu"] = "relu"
    """activation of the hidden layers"""
    layer_norm: bool = False
    """LayerNorm after each hidden linear layer"""
    bf16: bool = False
    """the CNN trunk in bfloat16 autocast (heads float32): ~1.4x the steps/s on an AMD EPYC (Zen 4) CPU,
    also for AMX CPUs and Ampere+ GPUs; 1.34x slower (a SAC update) on a Xeon without AMX"""
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


def nature_cnn(sizes, activation, layer_norm: bool) -> nn.Sequential:
    """Mnih et al. 2015: (N, 4, 84, 84) in [0, 1] -> conv 32x8s4, 64x4s2, 64x3s1 -> dense layers ``sizes``."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers = [
        layer_init(nn.Conv2d(4, 32, 8, stride=4)),
        nn.ReLU(),
        layer_init(nn.Conv2d(32, 64, 4, stride=2)),
        nn.ReLU(),
        layer_init(nn.Conv2d(64, 64, 3, stride=1)),
        nn.ReLU(),
        nn.Flatten(),
    ]
    for n_in, n_out in zip([64 * 7 * 7, *sizes[:-1]], sizes):
        layers.append(layer_init(nn.Linear(n_in, n_out)))
        layers += [nn.LayerNorm(n_out), act()] if layer_norm else [act()]
    # channels_last (NHWC) conv weights: oneDNN's CPU kernels run this layout faster, same maths
    return nn.Sequential(*layers).to(memory_format=torch.channels_last)


class Agent(nn.Module):
    """Nature-CNN trunk shared by the actor (logits) and critic (value) heads."""

    def __init__(self, n_actions: int, args: Args):
        super().__init__()
        hidden = list(args.hidden_sizes)
        self.network = nature_cnn(hidden, args.activation, args.layer_norm)
        self.actor = layer_init(nn.Linear(hidden[-1], n_actions), 0.01)
        self.critic = layer_init(nn.Linear(hidden[-1], 1), 1.0)
        self.bf16 = args.bf16

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 frames (N, 4, 84, 84) -> (logits (N, A), values (N,))."""
        with torch.autocast(obs.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            hidden = self.network(obs.float() / 255.0)
        hidden = hidden.float()  # the heads in float32: log-probs and values need more than bf16's ~3 digits
        return self.actor(hidden), self.critic(hidden).squeeze(1)


def compute_loss(agent, value_transform, batch, args: Args):
    """A2C loss on the whole rollout ``batch`` (obs, actions, advantages, returns).

    Returns the total loss and a tensor of [policy_loss, value_loss, entropy].
    """
    obs, actions, advantages, returns = batch
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
    check_atari(args, use_instead="algos/a2c.py")
    batch_size = args.num_envs * args.num_steps
    num_iterations = whole_rollouts(args.total_timesteps, batch_size)
    run = Run(args, report, RESUME_MUST_MATCH)
    device = run.device
    envs = make_envs(args, str(run.dir / "videos"))
    obs_shape = envs.single_observation_space.shape

    agent = Agent(int(envs.single_action_space.n), args).to(device)
    value_transform = ValueTransform(args.symlog_transform, args.normalize_v_targets).to(device)
    if args.optimizer == "rmsprop":
        optimizer = torch.optim.RMSprop(
            agent.parameters(), lr=args.learning_rate, alpha=0.99, eps=1e-5, weight_decay=args.weight_decay
        )
    else:
        adam = torch.optim.AdamW if args.optimizer == "adamw" else torch.optim.Adam
        optimizer = adam(
            agent.parameters(), lr=args.learning_rate, eps=1e-5, weight_decay=args.weight_decay, foreach=True
        )
    next_obs, _ = envs.reset(seed=args.seed)
    global_step, next_obs = run.resume(
        envs, next_obs, agent=agent, value_transform=value_transform, optimizer=optimizer
    )

    # Rollout storage, preallocated once, shapes (num_steps, num_envs, ...).
    obs_buf = torch.zeros((args.num_steps, args.num_envs, *obs_shape), dtype=torch.uint8, device=device)
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
        batch = (b_obs, b_actions, b_advantages, b_returns)
        loss, stats = compute_loss(agent, value_transform, batch, args)
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
    agent = Agent(int(env.action_space.n), args)
    agent.load_state_dict(state["agent"])

    def act(obs):
        logits, _ = agent(torch.as_tensor(obs).unsqueeze(0))
        return int(logits.argmax() if greedy else torch.multinomial(logits.softmax(-1), 1))

    return act


if __name__ == "__main__":
    train(cli(Args))
