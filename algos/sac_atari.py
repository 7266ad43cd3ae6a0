"""Discrete SAC for Atari: Christodoulou 2019, "Soft Actor-Critic for Discrete Action Settings"
(after Haarnoja et al. 2018), with Nature-CNN encoders (Mnih et al. 2015) and CleanRL's
sac_atari.py settings (1M replay, batch 64, learning from 20k steps, an update every 4 steps,
target networks copied every 8000 steps, target entropy 0.89 * log |A|).

With a discrete policy the expectations over actions are exact sums (no sampling):

    V(s')  = sum_a' pi(a'|s') * ( min_i Q_targ_i(s', a') - alpha * log pi(a'|s') )
    y      = r + gamma * (1 - terminated) * V(s')              L_Q = sum_i (Q_i(s, a) - y)^2
    L_pi   = E_s[ sum_a pi(a|s) * ( alpha * log pi(a|s) - min_i Q_i(s, a) ) ]
    L_alpha = log(alpha) * ( H[pi(.|s)] - target_entropy ),   target_entropy = scale * log |A|

log pi comes from one ``log_softmax`` (pi = its ``exp``). Actor and each Q network have their own
CNN encoder. Deviations: the actor's loss uses the Q values computed for the critic step just
before it (saves two CNN forwards; CleanRL recomputes them after the critic step); alpha's loss
is written with log(alpha) and the exact entropy (CleanRL averages over actions with alpha).
Actions are uniform random until ``learning_starts``, then sampled from pi.

Defaults: CleanRL's sac_atari.py settings (above), 5M steps.
Tuned settings for other envs: ``overrides`` in benchmarks/suites.py; this prints the full command:
``./benchmark.sh atari --print-jobs --rerun --seeds 1 --algos sac_atari --envs Pong``.

Env (the same lines in every *_atari.py): the game of ``ALE/<Game>-v5`` in ale_py's native
``AtariVectorEnv`` (in C++ threads: 4 skipped frames with max-pooling of the last two, 84x84
grayscale, up to 30 no-op starts, stacks of 4 frames padded with the episode's first frame).
``--engine gymnasium`` builds the same from ``frameskip=1``, Gymnasium's ``AtariPreprocessing`` and
``FrameStackObservation(4)``: the same frames, rewards and episode ends (tests/test_atari_engines.py),
~1.6x slower to step (8 envs, 2 cores); it records videos (``--capture-video``) and evaluate() uses it. Obs stay uint8
until the device, the ``/ 255`` happens inside the networks. What each choice does to the scores:

- Logged ``charts/episodic_return`` is the raw game score of a whole game (all lives):
  ``RecordEpisodeStatistics`` wraps the vector env *inside* the ``sign(r)`` reward clipping that
  only the learner sees. One step = 4 frames: 5M steps are 20M frames.
- ``--repeat-action-probability 0.25`` (sticky actions, ALE v5 default, Machado et al. 2018) makes
  the game stochastic; scores run lower than the v4 / NoFrameskip numbers (0.0 to compare with those).
- ``--terminal-on-life-loss`` (off by default) marks a lost life as terminal *for learning only*
  (bootstrap zeroed) without resetting the game, so logged scores stay whole games. (The
  wrapper's own flag resets the whole game at each lost life: scores would be one life's.)
- ALE v5 truncates a game at 108k frames (30 min); no-op starts randomise the start.

Replay memory: each 84x84 frame is stored once and stacks are rebuilt from indices (see
``FrameReplayBuffer``, the same class as in dqn_atari.py): ~7.07 KB per transition, ~7.1 GB for
1M. ``--checkpoint-buffer auto`` puts it into checkpoints only up to 2 GiB (~300k frames), so not
the default 1M: a run resumed without it refills ``learning_starts`` transitions with its current
policy (not random play) before it learns again; ``--checkpoint-buffer on`` saves it. Either way a
resumed run starts new games (ALE envs cannot be saved mid-game).

Gymnasium's SAME_STEP autoreset: the step that ends an episode returns the reset observation and the
real final one in ``info["final_obs"]``; the buffer stores its frame as next frame and only ``terminated``
zeroes the bootstrap, so a truncated game bootstraps from V(final observation). No transition and no
stack spans a reset.
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
from common import checks
from common.replay import FrameReplayBuffer
from common.returns import td_targets
from common.runs import (
    Run,
    args_from_checkpoint,
    buffer_not_saved,
    check_env_id,
    check_resume_args,
    cli,
    eval_env,
    fail,
    keeps_buffer,
    load_checkpoint,
    load_optimizer,
    pick_device,
    rng_states,
    run_episodes,
    seed_everything,
    set_rng_states,
    threads_for,
)


@dataclass
class Args:
    exp_name: str = "sac_atari"
    """name of this experiment (part of the run folder's name)"""
    env_id: str = "ALE/Breakout-v5"
    """ALE id (``ALE/<Game>-v5``)"""
    seed: int = 1
    """seed of the envs, torch, numpy and python"""
    total_timesteps: int = 5_000_000
    """env steps to train for, summed over the parallel envs (1 step = 4 frames)"""
    repeat_action_probability: float = 0.25
    """sticky actions (ALE v5 default; 0.0 for v4-style numbers)"""
    terminal_on_life_loss: bool = False
    """a lost life is terminal for learning (the game goes on; logged returns stay whole games)"""
    noop_max: int = 30
    """at most this many no-op actions at each reset"""
    num_envs: int = 1
    """parallel envs in the vector env"""
    engine: Literal["native", "gymnasium"] = "native"
    """native: ale_py's C++ AtariVectorEnv (frame skip, resize, stack in threads); gymnasium: the Python
    wrappers of evaluate() (same frames, rewards and episode ends; needed for --capture-video)"""
    env_threads: int = 0
    """native engine: threads that step the envs (0: one per env, at most the CPU count; same results)"""
    vector_mode: Literal["sync", "async"] = "sync"
    """gymnasium engine: sync steps envs in this process (fastest on few cores); async uses one process per env"""
    buffer_size: int = 1_000_000
    """replay capacity in frames (~7.07 KB each; one transition per frame except at episode starts)"""
    gamma: float = 0.99
    """discount factor"""
    tau: float = 1.0
    """target network update rate: 1 copies (hard update), < 1 is Polyak averaging"""
    target_network_frequency: int = 8000
    """env steps between target network updates"""
    batch_size: int = 64
    """transitions per gradient step"""
    learning_starts: int = 20_000
    """env steps of uniformly random actions before learning starts (after a --resume without a saved
    buffer, as many steps of the current policy refill it)"""
    policy_lr: float = 3e-4
    """Adam learning rate of the actor"""
    q_lr: float = 3e-4
    """Adam learning rate of the Q networks and of alpha"""
    update_frequency: int = 4
    """env steps between gradient steps"""
    alpha: float = 0.2
    """entropy coefficient (the start value when autotuned)"""
    autotune: bool = True
    """learn alpha towards the target entropy"""
    target_entropy_scale: float = 0.89
    """target entropy = scale * log(number of actions) (the uniform policy's entropy times scale)"""
    hidden_sizes: tuple[int, ...] = (512,)
    """widths of the dense layers after each Nature CNN's convolutions"""
    activation: Literal["relu", "tanh"] = "relu"
    """activation of the dense layers"""
    layer_norm: bool = False
    """LayerNorm after each dense hidden layer"""
    bf16: bool = False
    """run the CNN trunk in bfloat16 (autocast; the output layers (logits, Q values) stay float32): needs a CPU
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


class CNNHead(nn.Module):
    """uint8 frames (N, 4, 84, 84), scaled to [0, 1] here, on the device -> one output per action.
    The actor (logits) and each Q network (Q(s, .)) are one of these."""

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


def soft_q_targets(rewards, terminated, next_log_probs, next_q_values, alpha, gamma: float) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * sum_a' pi(a'|s') (min_i Q_targ_i(s', a') - alpha log pi(a'|s')).

    next_log_probs (B, A); next_q_values (2, B, A).
    """
    next_values = (next_log_probs.exp() * (next_q_values.min(0).values - alpha * next_log_probs)).sum(1)
    return td_targets(rewards, next_values, terminated, gamma)


def actor_loss(log_probs: torch.Tensor, q_values: torch.Tensor, alpha) -> torch.Tensor:
    """E_s[ sum_a pi(a|s) (alpha log pi(a|s) - min_i Q_i(s, a)) ]; log_probs (B, A), q_values (2, B, A)."""
    return (log_probs.exp() * (alpha * log_probs - q_values.min(0).values)).sum(1).mean()


def alpha_loss(log_alpha: torch.Tensor, entropy: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """log(alpha) * (H - target_entropy): alpha grows while the entropy is below the target."""
    return log_alpha * (entropy.detach() - target_entropy)


def update_target(target_network: nn.Module, q_network: nn.Module, tau: float) -> None:
    """theta^- <- theta (tau = 1) or theta^- <- theta^- + tau (theta - theta^-), in place."""
    target_params, params = list(target_network.parameters()), list(q_network.parameters())
    with torch.no_grad():
        if tau == 1.0:
            torch._foreach_copy_(target_params, params)
        else:
            torch._foreach_lerp_(target_params, params, tau)


def check_args(args: Args) -> None:
    checks.check_args(args)  # ranges and the checks between fields, as in every script
    if not args.env_id.startswith("ALE/"):
        fail(f"{args.env_id} is not an Atari env (ALE/<Game>-v5): use algos/sac_discrete.py")
    if args.capture_video and args.engine == "native":
        fail("--capture-video needs --engine gymnasium (ale_py's native vector env does not render)")
    slots = args.buffer_size // max(args.num_envs, 1)
    if slots < 16:
        fail(
            f"--buffer-size {args.buffer_size} gives {slots} slots per env for "
            f"--num-envs {args.num_envs}: need >= 16"
        )


def train(args: Args, report=None) -> dict:
    check_args(args)
    check_env_id(args.env_id)
    checkpoint = load_checkpoint(args.resume) if args.resume else None
    if checkpoint is not None:
        check_resume_args(args, checkpoint, RESUME_MUST_MATCH)

    torch.set_num_threads(threads_for(args.torch_threads))  # auto: 1 until the networks exist
    seed_everything(args.seed, args.torch_deterministic)
    rng = np.random.default_rng(args.seed)
    device = pick_device(args.cuda)
    run = Run(args, report, resume=checkpoint)
    envs = make_envs(args, str(run.dir / "videos"))
    obs_shape, n_actions = envs.single_observation_space.shape, int(envs.single_action_space.n)

    actor = CNNHead(n_actions, args).to(device)
    qf1, qf2 = CNNHead(n_actions, args).to(device), CNNHead(n_actions, args).to(device)
    torch.set_num_threads(threads_for(args.torch_threads, actor, qf1, qf2))
    qf1_target, qf2_target = CNNHead(n_actions, args).to(device), CNNHead(n_actions, args).to(device)
    qf1_target.load_state_dict(qf1.state_dict())
    qf2_target.load_state_dict(qf2.state_dict())
    q_params = [*qf1.parameters(), *qf2.parameters()]
    q_optimizer = torch.optim.Adam(q_params, lr=args.q_lr, eps=1e-4, foreach=True)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=args.policy_lr, eps=1e-4, foreach=True)
    target_entropy = args.target_entropy_scale * math.log(n_actions)
    log_alpha = torch.tensor(math.log(args.alpha), device=device, requires_grad=True)
    alpha_optimizer = torch.optim.Adam([log_alpha], lr=args.q_lr, eps=1e-4)
    buffer = FrameReplayBuffer(args.buffer_size, args.num_envs, obs_shape, device)
    save_buffer = keeps_buffer(args.checkpoint_buffer, buffer)

    global_step, updates_from = 0, args.learning_starts
    if checkpoint is not None:
        for name, module in [("actor", actor), ("qf1", qf1), ("qf2", qf2), ("qf1_target", qf1_target)]:
            module.load_state_dict(checkpoint[name])
        qf2_target.load_state_dict(checkpoint["qf2_target"])
        load_optimizer(q_optimizer, checkpoint["q_optimizer"])
        load_optimizer(actor_optimizer, checkpoint["actor_optimizer"])
        load_optimizer(alpha_optimizer, checkpoint["alpha_optimizer"])
        with torch.no_grad():
            log_alpha.copy_(checkpoint["log_alpha"])
        global_step = checkpoint["global_step"]
        set_rng_states(checkpoint["rng"])
        rng.bit_generator.state = checkpoint["buffer_rng"]
        if checkpoint.get("buffer") is not None:
            buffer.load_state_dict(checkpoint["buffer"])
        else:  # refill the buffer with the current policy (not random play) before updating again
            updates_from = global_step + args.learning_starts
            buffer_not_saved(global_step, args.learning_starts, args.num_envs)
    # ALE envs cannot be saved mid-game: a resumed run starts new games, which the buffer records
    # as episode starts (a saved buffer's last episode just ends there).
    obs, info = envs.reset(seed=args.seed + global_step)
    lives = info["lives"]
    buffer.start(obs)

    def save() -> None:
        state = {
            "actor": actor.state_dict(),
            "qf1": qf1.state_dict(),
            "qf2": qf2.state_dict(),
            "qf1_target": qf1_target.state_dict(),
            "qf2_target": qf2_target.state_dict(),
            "q_optimizer": q_optimizer.state_dict(),
            "actor_optimizer": actor_optimizer.state_dict(),
            "alpha_optimizer": alpha_optimizer.state_dict(),
            "log_alpha": log_alpha.detach().clone(),
            "global_step": global_step,
            "rng": rng_states(),
            "buffer_rng": rng.bit_generator.state,
            "buffer": buffer.state_dict() if save_buffer else None,
            "args": vars(args),
        }
        run.save_checkpoint(state)

    def update() -> torch.Tensor:
        """One gradient step of the Q networks, the actor and alpha; returns the losses to log."""
        obs_b, actions, rewards, next_obs_b, terminated = buffer.sample(args.batch_size, rng)
        alpha = log_alpha.detach().exp()
        with torch.no_grad():
            next_log_probs = torch.log_softmax(actor(next_obs_b), dim=1)
            next_q_values = torch.stack([qf1_target(next_obs_b), qf2_target(next_obs_b)])
            q_targets = soft_q_targets(rewards, terminated, next_log_probs, next_q_values, alpha, args.gamma)
        q_values = torch.stack([qf1(obs_b), qf2(obs_b)])  # (2, B, A)
        q_taken = q_values.gather(2, actions.view(1, -1, 1).expand(2, -1, 1)).squeeze(2)
        qf_loss = ((q_taken - q_targets) ** 2).mean(1).sum()
        q_optimizer.zero_grad(set_to_none=True)
        qf_loss.backward()
        q_optimizer.step()

        log_probs = torch.log_softmax(actor(obs_b), dim=1)
        pi_loss = actor_loss(log_probs, q_values.detach(), alpha)
        actor_optimizer.zero_grad(set_to_none=True)
        pi_loss.backward()
        actor_optimizer.step()

        entropy = -(log_probs.detach().exp() * log_probs.detach()).sum(1).mean()
        a_loss = alpha_loss(log_alpha, entropy, target_entropy)
        if args.autotune:
            alpha_optimizer.zero_grad(set_to_none=True)
            a_loss.backward()
            alpha_optimizer.step()
        return torch.stack(
            [qf_loss.detach(), pi_loss.detach(), a_loss.detach(), entropy, q_taken.detach().mean()]
        )

    def check_finite(losses: list[float]) -> None:
        names = ("qf_loss", "actor_loss", "alpha_loss")
        run.check_finite(global_step, dict(zip(names, losses)), actor, qf1, qf2)

    n = args.num_envs
    progress_every = max(1, 1000 // n)  # vector steps between progress lines / report calls
    num_updates, stats = 0, []
    for step in range(global_step // n, args.total_timesteps // n):
        global_step += n
        if global_step - n < args.learning_starts:  # warm-up (a refill after --resume uses the policy)
            actions = rng.integers(0, n_actions, size=n)
        else:
            with torch.inference_mode():
                logits = actor(torch.as_tensor(obs, device=device))
                actions = torch.multinomial(logits.softmax(1), 1).squeeze(1)
            actions = actions.cpu().numpy()

        next_obs, rewards, terminated, truncated, info = envs.step(actions)
        ended = terminated | truncated
        if args.terminal_on_life_loss:  # for learning only; the game goes on
            terminated = terminated | (info["lives"] < lives)
        lives = info["lives"]
        buffer.add(actions, rewards, terminated, next_obs, ended, info.get("final_obs"))
        run.log_episodes(global_step, info)
        obs = next_obs

        if global_step >= updates_from:
            uf = args.update_frequency
            for _ in range(global_step // uf - (global_step - n) // uf):
                stats.append(update())
                num_updates += 1
                if len(stats) == 100:
                    qf_loss, pi_loss, a_loss, entropy, mean_q = torch.stack(stats).mean(0).tolist()
                    stats.clear()
                    check_finite([qf_loss, pi_loss, a_loss])
                    run.log(
                        global_step,
                        {
                            "losses/qf_loss": qf_loss,
                            "losses/policy_loss": pi_loss,
                            "losses/alpha_loss": a_loss,
                            "losses/alpha": log_alpha.exp().item(),
                            "losses/entropy": entropy,
                            "losses/qf_values": mean_q,
                        },
                    )
            tnf = args.target_network_frequency
            if global_step // tnf != (global_step - n) // tnf:
                update_target(qf1_target, qf1, args.tau)
                update_target(qf2_target, qf2, args.tau)

        if args.checkpoint_every and global_step // args.checkpoint_every != (
            (global_step - n) // args.checkpoint_every
        ):
            if stats:
                check_finite(stats[-1][:3].tolist())
            save()
        if step % progress_every == 0 or step == args.total_timesteps // n - 1:
            if run.progress(global_step, f"alpha {log_alpha.exp().item():.3f}  updates {num_updates}"):
                break

    if stats:
        check_finite(torch.stack(stats)[:, :3].mean(0).tolist())
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
    actor = CNNHead(int(env.action_space.n), args)
    actor.load_state_dict(state["actor"])

    @torch.inference_mode()
    def act(obs):
        logits = actor(torch.as_tensor(obs).unsqueeze(0))
        return int(logits.argmax() if greedy else torch.multinomial(logits.softmax(-1), 1))

    return run_episodes(env, act, episodes, seed)


if __name__ == "__main__":
    train(cli(Args))
