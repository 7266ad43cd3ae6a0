"""Sum tree for proportional prioritized experience replay.

Schaul, Quan, Antonoglou, Silver, "Prioritized Experience Replay", ICLR 2016
(https://arxiv.org/abs/1511.05952). Transition i is sampled with probability

    P(i) = p_i^alpha / sum_k p_k^alpha

and its loss is scaled by the importance-sampling weight w_i = (N * P(i))^-beta / max_j w_j.

The tree stores whatever the caller writes: the caller applies the exponent alpha and stores
p_i^alpha (e.g. `(abs(td_error) + eps) ** alpha`). Leaves live at the end of one float64 array
(`tree[size + i]` for i < capacity, size = the next power of two, padding leaves hold 0); node n
holds `tree[2n] + tree[2n + 1]` and the root `tree[1]` holds the total. Updates and look-ups are
batched: every operation loops over the log2(size) tree levels only, never over batch elements.
Parent sums are recomputed from their children, never adjusted by deltas, so no float drift
accumulates over millions of updates. Ring-buffer wrap-around is the replay buffer's job.
"""

from __future__ import annotations

import numpy as np


class SumTree:
    """Binary sum tree over `capacity` non-negative priorities, with batched update and find."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.size = 1 << (capacity - 1).bit_length()  # leaves, padded to a power of two
        self.depth = self.size.bit_length() - 1  # levels between the root and the leaves
        self.tree = np.zeros(2 * self.size, dtype=np.float64)
        self.max_priority = 1.0  # priority given to new transitions: max_{i<t} p_i (paper, Alg. 1)

    @property
    def total(self) -> float:
        """Sum of all priorities (the root)."""
        return float(self.tree[1])

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set `priorities[j]` at leaf `indices[j]`; where an index repeats, the last write wins."""
        indices = np.asarray(indices, dtype=np.int64).ravel()
        priorities = np.broadcast_to(np.asarray(priorities, dtype=np.float64), indices.shape)
        if indices.size == 0:
            return
        if indices.min() < 0 or indices.max() >= self.capacity:
            raise IndexError(f"indices must lie in [0, {self.capacity})")
        if not np.all(np.isfinite(priorities)) or priorities.min() < 0:
            raise ValueError("priorities must be finite and >= 0")
        # Numpy does not promise which of several writes to one element lands, so keep the last
        # occurrence of each index explicitly (np.unique on the reversed batch finds it).
        _, last = np.unique(indices[::-1], return_index=True)
        keep = indices.size - 1 - last
        nodes = indices[keep] + self.size  # distinct leaves
        self.tree[nodes] = priorities[keep]
        self.max_priority = max(self.max_priority, float(priorities.max()))
        for _ in range(self.depth):
            # Siblings share a parent; its repeated writes all carry the same freshly summed value.
            nodes = nodes >> 1
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]

    def find(self, prefix_sums: np.ndarray) -> np.ndarray:
        """Leaf index i with cumsum(p)[i-1] <= s < cumsum(p)[i] for each prefix sum s.

        All queries descend together, one tree level per iteration. A query never ends on a
        zero-priority leaf (so never on padding) while the total is positive: at each node it goes
        right only if the right subtree holds mass, so s >= total (float round-off) lands on the
        last positive leaf instead of running off the end.
        """
        s = np.maximum(np.asarray(prefix_sums, dtype=np.float64), 0.0)
        nodes = np.ones(s.shape, dtype=np.int64)
        for _ in range(self.depth):
            nodes *= 2  # left child
            left = self.tree[nodes]
            go_right = (s >= left) & (self.tree[nodes + 1] > 0)
            s -= left * go_right
            nodes += go_right
        return nodes - self.size

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Stratified sampling: one uniform point in each of `batch_size` equal segments of [0, total).

        Returns (indices, priorities); each index i is drawn with marginal probability p_i / total.
        """
        total = self.total
        if not total > 0:
            raise ValueError("cannot sample from a sum tree whose total priority is 0")
        prefix_sums = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)
        indices = self.find(prefix_sums)
        return indices, self.tree[indices + self.size]

    def priorities(self, indices: np.ndarray) -> np.ndarray:
        """Leaf priorities at `indices`."""
        indices = np.asarray(indices, dtype=np.int64)
        if np.any((indices < 0) | (indices >= self.capacity)):
            raise IndexError(f"indices must lie in [0, {self.capacity})")
        return self.tree[indices + self.size]

    def state_dict(self) -> dict:
        return {"tree": self.tree, "max_priority": self.max_priority}

    def load_state_dict(self, state: dict) -> None:
        self.tree[:], self.max_priority = state["tree"], state["max_priority"]

    def __getitem__(self, indices: int | np.ndarray) -> float | np.ndarray:
        result = self.priorities(indices)
        return float(result) if result.ndim == 0 else result

    def __len__(self) -> int:
        return self.capacity


def importance_weights(priorities: np.ndarray, total: float, size: int, beta: float) -> np.ndarray:
    """w_i = (N * P(i))^-beta / max_j w_j with P(i) = p_i / total and N = `size` stored transitions.

    Normalised by the largest weight in the batch (as in the paper's Algorithm 1), so w <= 1.
    """
    probs = np.asarray(priorities, dtype=np.float64) / total
    weights = (size * probs) ** -beta
    return weights / weights.max()
