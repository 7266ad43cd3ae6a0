"""Replay memories: the plain uniform one of dqn.py, sac_continuous.py and sac_discrete.py, with the
SAME_STEP rule for the next observation; dqn_per.py's prioritized one on top of it; and for Atari one
that stores each frame once and rebuilds the frame stacks on sampling (dqn_atari.py, sac_atari.py).

A uniform buffer of 4-frame stacks stores every frame 8 times (4 in obs, 4 in next_obs); the Atari
one stores it once, at about an eighth of the memory, and never lets a stack reach into another
episode (its class docstring says how).
"""

from __future__ import annotations

import numpy as np
import torch

from common.errors import fail
from common.sumtree import SumTree, importance_weights


def real_next_obs(next_obs: np.ndarray, info: dict) -> np.ndarray:
    """``next_obs`` with the real final observation of each env whose episode ended at this step.

    Easy to overlook: with SAME_STEP autoreset ``next_obs`` of an env whose episode just ended
    (terminated or truncated) is already the *reset* observation of its next episode. The real final
    observation is ``info["final_obs"]``; it is what a truncated transition bootstraps from. Only
    ``terminated`` goes into the bootstrap mask.
    """
    if "final_obs" not in info:  # no episode ended at this step
        return next_obs
    next_obs, ended = next_obs.copy(), info["_final_obs"]
    next_obs[ended] = np.stack(info["final_obs"][ended])
    return next_obs


class ReplayBuffer:
    """Preallocated circular buffer of transitions, a row per env and step. Floating observations are
    stored as float32 (what the networks take), others (e.g. uint8) keep their dtype to the device."""

    fields = ("obs", "next_obs", "actions", "rewards", "terminated")  # what a checkpoint keeps

    def __init__(self, capacity: int, obs_space, action_shape: tuple, action_dtype, device: torch.device):
        obs_dtype = np.float32 if np.issubdtype(obs_space.dtype, np.floating) else obs_space.dtype
        self.capacity, self.device, self.pos, self.size = capacity, device, 0, 0
        self.obs = np.zeros((capacity, *obs_space.shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_space.shape), dtype=obs_dtype)
        self.actions = np.zeros((capacity, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)

    def __len__(self) -> int:
        return self.size

    def add(self, obs, next_obs, actions, rewards, terminated) -> np.ndarray:
        """Store a batch of transitions (one per env; ``next_obs`` from ``real_next_obs``); returns the slots."""
        idx = (self.pos + np.arange(len(actions))) % self.capacity
        self.obs[idx], self.next_obs[idx], self.actions[idx] = obs, next_obs, actions
        self.rewards[idx], self.terminated[idx] = rewards, terminated
        self.pos = int(idx[-1] + 1) % self.capacity
        self.size = min(self.size + len(actions), self.capacity)
        return idx

    def get(self, idx: np.ndarray) -> tuple[torch.Tensor, ...]:
        """(obs, actions, rewards, next_obs, terminated) at slots ``idx``, as tensors on the device."""
        arrays = (self.obs, self.actions, self.rewards, self.next_obs, self.terminated)
        # ndarray.take(idx, axis=0) gathers rows several times faster than fancy indexing a[idx].
        return tuple(torch.from_numpy(a.take(idx, axis=0)).to(self.device) for a in arrays)

    def sample(self, batch_size: int, rng: np.random.Generator | None = None) -> tuple[torch.Tensor, ...]:
        """``get`` at uniformly drawn slots: from ``rng``, else from numpy's global stream (the SAC scripts)."""
        if rng is None:
            return self.get(np.random.randint(0, self.size, size=batch_size))
        return self.get(rng.integers(0, self.size, size=batch_size))

    def state_dict(self) -> dict:
        n = self.size
        return {"pos": self.pos, "size": n, **{k: getattr(self, k)[:n].copy() for k in self.fields}}

    def load_state_dict(self, state: dict) -> None:
        for k in self.fields:
            getattr(self, k)[: state["size"]] = state[k]
        self.pos, self.size = state["pos"], state["size"]


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016) for dqn_per.py: the uniform ring buffer above,
    each transition's m (of an m-step transition), and a sum tree (common/sumtree.py) over the priorities
    p_i^alpha that samples and updates a whole batch at once."""

    fields = (*ReplayBuffer.fields, "steps")  # what a checkpoint keeps

    def __init__(self, capacity: int, obs_space, device: torch.device):
        super().__init__(capacity, obs_space, (), np.int64, device)
        self.steps = np.ones(capacity, dtype=np.float32)  # m of an m-step transition
        self.tree, self.new_slots = SumTree(capacity), []

    def add(self, obs, next_obs, actions, rewards, terminated, steps) -> np.ndarray:
        idx = super().add(obs, next_obs, actions, rewards, terminated)
        self.steps[idx] = steps
        self.new_slots.append(idx)  # they enter the tree, all at once, before the next sample
        return idx

    def add_new_slots(self) -> None:
        """New transitions get the largest priority so far, max_{i<t} p_i^alpha."""
        if self.new_slots:
            self.tree.update(np.concatenate(self.new_slots), self.tree.max_priority)
            self.new_slots.clear()

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float):
        """A batch drawn with P(i) = p_i^alpha / sum_k p_k^alpha; returns (slots, batch, weights)."""
        self.add_new_slots()
        idx, priorities = self.tree.sample(batch_size, rng)
        weights = importance_weights(priorities, self.tree.total, self.size, beta)
        batch = (*self.get(idx), torch.from_numpy(self.steps.take(idx)).to(self.device))
        return idx, batch, torch.from_numpy(weights.astype(np.float32)).to(self.device)

    def update_priorities(self, idx: np.ndarray, td_errors: torch.Tensor, alpha: float, eps: float) -> None:
        priorities = (np.abs(td_errors.cpu().numpy().astype(np.float64)) + eps) ** alpha  # p_i^alpha
        self.tree.update(idx, priorities)

    def state_dict(self) -> dict:
        self.add_new_slots()
        return {**super().state_dict(), **self.tree.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.tree.load_state_dict(state)


class FrameReplayBuffer:
    """Replay memory that stores each 84x84 frame once and rebuilds the 4-frame stacks from indices.

    One ring of ``capacity // num_envs`` slots per env. Each env step writes one slot per env: the
    newest frame of the transition's *real* next observation (``info["final_obs"]`` where the
    episode ended) with the transition's action, reward and terminated flag. An episode's first
    observation takes a slot of its own (``depth`` 0, not a transition). ``depth[e, j]`` counts the
    frames of the same episode before slot j (capped at 4), so the stacks ending at slots j - 1
    and j are the frames at ``j - min(i, depth)`` for i = 4..1 and 3..0: frames of an earlier
    episode never enter, and an episode's first frame pads the start exactly as the env's
    ``FrameStackObservation(padding_type="reset")`` does. Writing slot w takes the oldest frames
    from the stacks of slots w+1..w+4, so those stop being sampleable (``valid``).

    Memory: 84 * 84 + 15 bytes per slot (~7.07 KB; ~7.1 GB for 1M slots), against 2 * 28 KB for
    storing obs and next_obs stacks. Episode starts take a slot each, so a full buffer holds
    slightly fewer transitions than slots (one per episode, plus 4 per env at the write head).
    """

    def __init__(self, capacity: int, num_envs: int, obs_shape: tuple, device: torch.device):
        self.stack, *frame_shape = obs_shape
        self.num_envs, self.slots, self.device = num_envs, capacity // num_envs, device
        self.frames = np.zeros((num_envs, self.slots, *frame_shape), dtype=np.uint8)
        self.actions = np.zeros((num_envs, self.slots), dtype=np.int64)
        self.rewards = np.zeros((num_envs, self.slots), dtype=np.float32)
        self.terminated = np.zeros((num_envs, self.slots), dtype=np.bool_)
        self.depth = np.zeros((num_envs, self.slots), dtype=np.uint8)
        self.valid = np.zeros((num_envs, self.slots), dtype=np.bool_)
        self.pos = np.zeros(num_envs, dtype=np.int64)  # next slot to write, per env
        self.filled = np.zeros(num_envs, dtype=np.int64)  # slots written so far, per env (<= slots)
        self.offsets = np.arange(self.stack, -1, -1)  # 4, 3, 2, 1, 0 frames back
        self.fields = ("frames", "actions", "rewards", "terminated", "depth", "valid")

    def _write(self, envs: np.ndarray, frames: np.ndarray, depth: np.ndarray, valid: bool) -> np.ndarray:
        """Write one slot for each env in ``envs``; returns the flat indices whose ``valid`` changed."""
        slots = self.pos[envs]
        self.frames[envs, slots] = frames
        self.depth[envs, slots] = depth
        self.valid[envs, slots] = valid
        ahead = (slots[:, None] + np.arange(1, self.stack + 1)) % self.slots
        self.valid[envs[:, None], ahead] = False
        self.pos[envs] = (slots + 1) % self.slots
        self.filled[envs] = np.minimum(self.filled[envs] + 1, self.slots)
        return np.concatenate([envs * self.slots + slots, (envs[:, None] * self.slots + ahead).ravel()])

    def start(self, obs: np.ndarray) -> np.ndarray:
        """The first observations after ``envs.reset()`` (N, 4, 84, 84)."""
        return self._write(np.arange(self.num_envs), obs[:, -1], np.zeros(self.num_envs), False)

    def add(self, actions, rewards, terminated, next_obs, ended, final_obs) -> np.ndarray:
        """One vector step. Easy to overlook: with SAME_STEP autoreset ``next_obs[e]`` of an env whose
        episode ``ended`` is the reset observation; the transition's next frame comes from
        ``final_obs[e]`` (``info["final_obs"]``) and the reset frame starts a new episode.

        Returns the flat indices (e * slots + j) whose ``valid`` flag may have changed.
        """
        all_envs = np.arange(self.num_envs)
        new_frames = next_obs[:, -1].copy()
        if ended.any():
            new_frames[ended] = np.stack(final_obs[ended])[:, -1]
        slots = self.pos.copy()
        self.actions[all_envs, slots] = actions
        self.rewards[all_envs, slots] = rewards
        self.terminated[all_envs, slots] = terminated
        depth = np.minimum(self.depth[all_envs, (slots - 1) % self.slots] + 1, self.stack)
        changed = self._write(all_envs, new_frames, depth, True)
        if ended.any():
            envs = np.flatnonzero(ended)
            changed = np.concatenate(
                [changed, self._write(envs, next_obs[envs, -1], np.zeros(len(envs)), False)]
            )
        return changed

    def get(self, indices: np.ndarray) -> tuple[torch.Tensor, ...]:
        """(obs, actions, rewards, next_obs, terminated) of the transitions ending at flat ``indices``.

        Stacks stay uint8 here; the network scales them on the device.
        """
        envs, slots = np.divmod(indices, self.slots)
        back = np.minimum(self.offsets, self.depth[envs, slots][:, None].astype(np.int64))
        # One copy of 5 frames per transition serves both stacks: obs and next_obs are views of it.
        window = torch.from_numpy(self.frames[envs[:, None], (slots[:, None] - back) % self.slots])
        window = window.to(self.device)  # (B, 5, 84, 84)
        rest = (self.actions[envs, slots], self.rewards[envs, slots], self.terminated[envs, slots])
        actions, rewards, terminated = (torch.from_numpy(a).to(self.device) for a in rest)
        return window[:, :-1], actions, rewards, window[:, 1:], terminated

    def sample_indices(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Uniform over each env's written slots, redrawing the few that hold no transition."""
        indices = np.empty(batch_size, dtype=np.int64)
        todo = np.arange(batch_size)
        while todo.size:
            envs = rng.integers(0, self.num_envs, todo.size)
            slots = (rng.random(todo.size) * self.filled[envs]).astype(np.int64)
            indices[todo] = envs * self.slots + slots
            todo = todo[~self.valid[envs, slots]]
        return indices

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        return self.get(self.sample_indices(batch_size, rng))

    def state_dict(self) -> dict:
        """The written part of every array (gigabytes for a big, full buffer)."""
        n = int(self.filled.max())
        arrays = {k: getattr(self, k)[:, :n].copy() for k in self.fields}
        return {"pos": self.pos.copy(), "filled": self.filled.copy(), **arrays}

    def load_state_dict(self, state: dict) -> None:
        if state["frames"].shape[0] != self.num_envs or state["frames"].shape[1] > self.slots:
            fail(
                f"--resume: the checkpoint's replay has {state['frames'].shape[:2]} (envs, slots), not "
                f"({self.num_envs}, {self.slots}): pass the same --num-envs and --buffer-size"
            )
        for key in self.fields:
            getattr(self, key)[:, : state[key].shape[1]] = state[key]
        self.pos[:], self.filled[:] = state["pos"], state["filled"]
