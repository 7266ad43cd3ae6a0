"""A2C for Atari: Mnih et al. 2016, "Asynchronous Methods for Deep Reinforcement Learning".

The synchronous variant (OpenAI baselines' A2C) with the Nature CNN of Mnih et al. 2015: one gradient
step on each rollout of ``num_envs * num_steps`` transitions (16 envs x 5 steps), on

    L_pi = -E_t[ A_t * log pi(a_t|s_t) ]

plus a value loss ``vf_coef * (V(s_t) - R_t)^2`` and an entropy bonus ``ent_coef * H[pi(.|s_t)]``,
RMSprop (lr 7e-4, alpha 0.99, eps 1e-5). Advantages A_t are GAE(lambda) (Schulman et al. 2016) and
R_t = A_t + V(s_t); ``--gae-lambda 1.0`` (default) gives the paper's n-step returns, bootstrapped
from the value at the rollout's end (SLM-Lab's "A2C-GAE" uses 0.95). Actor and critic share the
CNN trunk, as in the paper. Written as ppo_atari.py minus what PPO adds (``diff`` shows the clipped
ratio, the value clipping, the epochs and the minibatches), as a2c.py is to ppo.py.

Defaults: the settings above (16 envs x 5 steps, RMSprop 7e-4 annealed, GAE 1.0, entropy 0.01), 10M steps.
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh atari --print-jobs --rerun --seeds 1 --algos a2c_atari --envs Pong``.

Env (the same lines in every *_atari.py): the game of ``ALE/<Game>-v5`` in ale_py's native
``AtariVectorEnv`` (in C++ threads: 4 skipped frames with max-pooling of the last two, 84x84
grayscale, up to 30 no-op starts, stacks of 4 frames padded with the episode's first frame).
``--engine gymnasium`` builds the same from ``frameskip=1``, Gymnasium's ``AtariPreprocessing`` and
``FrameStackObservation(4)``: the same frames, rewards and episode ends (tests/test_atari_engines.py),
~1.6x slower to step (8 envs, 2 cores); it records videos (``--capture-video``) and evaluate() uses it. Obs stay uint8
until the device, the ``/ 255`` happens inside the network. What each choice does to the scores:

- Logged ``charts/episodic_return`` is the raw game score of a whole game (all lives):
  ``RecordEpisodeStatistics`` wraps the vector env *inside* the ``sign(r)`` reward clipping that
  only the learner sees. One step = 4 frames: 10M steps are 40M frames.
- ``--repeat-action-probability 0.25`` (sticky actions, ALE v5 default, Machado et al. 2018) makes
  the game stochastic; scores run lower than the v4 / NoFrameskip numbers (0.0 to compare with those).
- ``--terminal-on-life-loss`` (off by default) marks a lost life as terminal *for learning only*
  (bootstrap zeroed, GAE cut) without resetting the game, so logged scores stay whole games. (The
  wrapper's own flag resets the whole game at each lost life: scores would be one life's.)
- ALE v5 truncates a game at 108k frames (30 min); no-op starts randomise the start.

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``. Only termination zeroes the bootstrap; a time-limit truncation
bootstraps from V(final observation), computed at that step.
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
from common.returns import gae, next_values_from
from common.runs import (
    Run,
    args_from_checkpoint,
    check_env_id,
    check_resume_args,
    cli,
    eval_env,
    fail,
    load_checkpoint,
    load_optimizer,
    pick_device,
    rng_states,
    run_episodes,
    seed_everything,
    set_rng_states,
    threads_for,
)
from common.value_transform import ValueTransform


@dataclass
class Args:
    exp_name: str = "a2c_atari"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "ALE/Breakout-v5"
    """ALE id (``ALE/<Game>-v5``)"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 10_000_000
    """env steps to train for, summed over the parallel envs (1 step = 4 frames)"""
    repeat_action_probability: float = 0.25
    """sticky actions (ALE v5 default; 0.0 for v4-style numbers)"""
    terminal_on_life_loss: bool = False
    """a lost life is terminal for learning (the game goes on; logged returns stay whole games)"""
    noop_max: int = 30
    """at most this many no-op actions at each reset"""
    num_envs: int = 16
    """parallel envs in the vector env"""
    engine: Literal["native", "gymnasium"] = "native"
    """native: ale_py's C++ AtariVectorEnv (frame skip, resize, stack in threads); gymnasium: the Python
    wrappers of evaluate() (same frames, rewards and episode ends; needed for --capture-video)"""
    env_threads: int = 0
    """native engine: threads that step the envs (0: one per env, at most the CPU count; same results)"""
    vector_mode: Literal["sync", "async"] = "sync"
    """gymnasium engine: sync steps envs in this process (fastest on few cores); async uses one process per env"""
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
    """activation of the dense layers"""
    layer_norm: bool = False
    """LayerNorm after each dense hidden layer"""
    bf16: bool = False
    """run the CNN trunk in bfloat16 (autocast; the actor and critic heads stay float32): needs a CPU
    that multiplies bf16 natively (AVX512-BF16, AMX) or an Ampere+ GPU. Measured faster on an AMD EPYC
    (Zen 4: ppo_atari ~1.4x the steps/s); on an Intel Xeon without AMX a bf16 SAC update was 1.34x slower.
    Scores untested at scale"""
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
    """also write a checkpoint every this many env steps (0: never)"""
    resume: str | None = None
    """path of a checkpoint to continue training from"""
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


def make_env(env_id: str, idx: int, capture_video: bool, video_dir: str, args: Args):
    def thunk():
        render_mode = "rgb_array" if capture_video and idx == 0 else None
        env = gym.make(
            env_id,
            frameskip=1,
            repeat_action_probability=args.repeat_action_probability,
            render_mode=render_mode,
        )
        if render_mode:
            env = gym.wrappers.RecordVideo(env, video_dir)
        env = gym.wrappers.AtariPreprocessing(env, noop_max=args.noop_max, frame_skip=4, screen_size=84)
        return gym.wrappers.FrameStackObservation(env, 4)

    return thunk


class RepeatFirstFrame(gym.vector.VectorWrapper):
    """ale_py's native stacks start an episode as [0, 0, 0, x0]; this fills the zeros with x0, as
    Gymnasium's ``FrameStackObservation`` and the replay memory's stacks do: [x0, x0, x0, x0]."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.frames = np.ones(self.num_envs, dtype=np.int64)  # frames of its episode in each stack
        return self.fill(obs, self.frames), info

    def step(self, actions):
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        ended = terminated | truncated
        if "final_obs" in info:  # SAME_STEP: the ended episodes' real last stacks
            self.fill(info["final_obs"], np.where(ended, self.frames + 1, 4))
        self.frames = np.where(ended, 1, np.minimum(self.frames + 1, 4))
        return self.fill(obs, self.frames), rewards, terminated, truncated, info

    @staticmethod
    def fill(stacks: np.ndarray, frames: np.ndarray) -> np.ndarray:
        for e in np.flatnonzero(frames < 4):
            stacks[e, : 4 - frames[e]] = stacks[e, 4 - frames[e]]
        return stacks


def make_envs(args: Args, video_dir: str) -> gym.vector.VectorEnv:
    """SAME_STEP autoreset; statistics of the raw score, then sign(r) for the learner (order matters)."""
    if args.engine == "native":
        from ale_py.vector_env import AtariVectorEnv

        spec = gym.spec(args.env_id).kwargs  # its defaults: frame skip 4 with max-pool, 84x84 gray, stack 4
        envs = AtariVectorEnv(
            spec["game"],
            args.num_envs,
            num_threads=args.env_threads,
            max_num_frames_per_episode=spec["max_num_frames_per_episode"],
            repeat_action_probability=args.repeat_action_probability,
            noop_max=args.noop_max,
            reward_clipping=False,  # the raw score: sign(r) comes last, outside the statistics
            use_fire_reset=False,  # as AtariPreprocessing
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        )
        envs = RepeatFirstFrame(envs)
    else:
        vector_env = gym.vector.SyncVectorEnv if args.vector_mode == "sync" else gym.vector.AsyncVectorEnv
        envs = vector_env(
            [make_env(args.env_id, i, args.capture_video, video_dir, args) for i in range(args.num_envs)],
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        )
    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    return gym.wrappers.vector.TransformReward(envs, np.sign)


def layer_init(layer: nn.Module, std: float = np.sqrt(2)) -> nn.Module:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer


def nature_cnn(hidden_sizes, activation: str, layer_norm: bool) -> nn.Sequential:
    """Mnih et al. 2015: (N, 4, 84, 84) in [0, 1] -> conv 32x8s4, 64x4s2, 64x3s1 -> dense layers."""
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
    for n_in, n_out in zip([64 * 7 * 7, *hidden_sizes[:-1]], hidden_sizes):
        layers.append(layer_init(nn.Linear(n_in, n_out)))
        layers += [nn.LayerNorm(n_out), act()] if layer_norm else [act()]
    # channels_last (NHWC) conv weights: oneDNN's CPU kernels run this layout faster, same math; the
    # (N, 4, 84, 84) input may stay NCHW, the first conv converts it.
    return nn.Sequential(*layers).to(memory_format=torch.channels_last)


class Agent(nn.Module):
    """Shared Nature-CNN trunk with an actor head (logits) and a critic head (value)."""

    def __init__(self, n_actions: int, args: Args):
        super().__init__()
        self.network = nature_cnn(args.hidden_sizes, args.activation, args.layer_norm)
        self.actor = layer_init(nn.Linear(args.hidden_sizes[-1], n_actions), 0.01)
        self.critic = layer_init(nn.Linear(args.hidden_sizes[-1], 1), 1.0)
        self.bf16 = args.bf16

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 frames (N, 4, 84, 84) -> (logits (N, A), values (N,)); scaled here, on the device."""
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
    batch_size = args.num_envs * args.num_steps
    num_iterations = whole_rollouts(args.total_timesteps, batch_size)
    if not args.env_id.startswith("ALE/"):
        fail(f"{args.env_id} is not an Atari env (ALE/<Game>-v5): use algos/a2c.py")
    if args.capture_video and args.engine == "native":
        fail("--capture-video needs --engine gymnasium (ale_py's native vector env does not render)")
    check_env_id(args.env_id)
    checkpoint = load_checkpoint(args.resume) if args.resume else None
    if checkpoint is not None:
        check_resume_args(args, checkpoint, RESUME_MUST_MATCH)

    torch.set_num_threads(threads_for(args.torch_threads))  # auto: 1 until the networks exist
    seed_everything(args.seed, args.torch_deterministic)
    device = pick_device(args.cuda)
    run = Run(args, report, resume=checkpoint)
    envs = make_envs(args, str(run.dir / "videos"))
    obs_shape = envs.single_observation_space.shape

    agent = Agent(int(envs.single_action_space.n), args).to(device)
    torch.set_num_threads(threads_for(args.torch_threads, agent))
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

    global_step, first_iteration = 0, 1
    next_obs, info = envs.reset(seed=args.seed)
    lives = info["lives"]
    if checkpoint is not None:
        agent.load_state_dict(checkpoint["agent"])
        value_transform.load_state_dict(checkpoint["value_transform"])
        load_optimizer(optimizer, checkpoint["optimizer"])
        global_step, first_iteration = checkpoint["global_step"], checkpoint["iteration"] + 1
        set_rng_states(checkpoint["rng"])
        # ALE envs pickle only their constructor arguments: a resumed run starts new games.
        next_obs, info = envs.reset(seed=args.seed + global_step)
        lives = info["lives"]

    def save() -> None:
        state = {
            "agent": agent.state_dict(),
            "value_transform": value_transform.state_dict(),
            "optimizer": optimizer.state_dict(),
            "global_step": global_step,
            "iteration": iteration,
            "rng": rng_states(),
            "args": vars(args),
        }
        run.save_checkpoint(state)

    # Rollout storage, preallocated once, shapes (num_steps, num_envs, ...).
    obs_buf = torch.zeros((args.num_steps, args.num_envs, *obs_shape), dtype=torch.uint8, device=device)
    actions = torch.zeros((args.num_steps, args.num_envs), dtype=torch.long, device=device)
    rewards = torch.zeros((args.num_steps, args.num_envs), device=device)
    terminated = torch.zeros((args.num_steps, args.num_envs), dtype=torch.bool, device=device)
    truncated = torch.zeros((args.num_steps, args.num_envs), dtype=torch.bool, device=device)
    values = torch.zeros((args.num_steps, args.num_envs), device=device)  # critic space
    final_values = torch.zeros((args.num_steps, args.num_envs), device=device)  # return space

    iteration = first_iteration - 1
    for iteration in range(first_iteration, num_iterations + 1):
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
                if args.terminal_on_life_loss:  # for learning only; the game goes on
                    term = term | (info["lives"] < lives)
                lives = info["lives"]
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
        b_obs, b_actions = obs_buf.view(batch_size, *obs_shape), actions.view(-1)
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
        if args.checkpoint_every and global_step // args.checkpoint_every != (
            (global_step - batch_size) // args.checkpoint_every
        ):
            save()
        if run.progress(global_step, f"entropy {entropy:.3f}"):
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
    """Play a saved agent for ``episodes`` whole games (argmax action if ``greedy``, else sampled);
    returns ``{"mean", "std", "returns", "lengths"}`` of the raw game score (no reward clipping)."""
    state = load_checkpoint(checkpoint)
    args = args_from_checkpoint(Args, state)

    def preprocess(env):
        env = gym.wrappers.AtariPreprocessing(env, noop_max=args.noop_max, frame_skip=4, screen_size=84)
        return gym.wrappers.FrameStackObservation(env, 4)

    env = eval_env(
        args.env_id,
        checkpoint,
        capture_video,
        render,
        wrap=preprocess,
        frameskip=1,
        repeat_action_probability=args.repeat_action_probability,
    )
    agent = Agent(int(env.action_space.n), args)
    agent.load_state_dict(state["agent"])

    @torch.inference_mode()
    def act(obs):
        logits, _ = agent(torch.as_tensor(obs).unsqueeze(0))
        return int(logits.argmax() if greedy else torch.multinomial(logits.softmax(-1), 1))

    return run_episodes(env, act, episodes, seed)


if __name__ == "__main__":
    train(cli(Args))
