"""Unit and property tests of common/sumtree.py against brute-force numpy references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.sumtree import SumTree, importance_weights

FAST = settings(max_examples=60, deadline=None, derandomize=True)


def leaves(tree: SumTree) -> np.ndarray:
    return tree.tree[tree.size : tree.size + tree.capacity]


def assert_consistent(tree: SumTree) -> None:
    """Every internal node equals the sum of its children; padding leaves are zero."""
    internal = np.arange(1, tree.size)
    np.testing.assert_array_equal(tree.tree[internal], tree.tree[2 * internal] + tree.tree[2 * internal + 1])
    assert np.all(tree.tree[tree.size + tree.capacity :] == 0)
    assert np.isclose(tree.total, leaves(tree).sum())


@st.composite
def tree_and_batches(draw):
    """A capacity and a few update batches of integer-valued priorities (exact float sums)."""
    capacity = draw(st.integers(1, 70))
    batches = draw(
        st.lists(
            st.lists(st.tuples(st.integers(0, capacity - 1), st.integers(0, 20)), min_size=1, max_size=40),
            min_size=1,
            max_size=6,
        )
    )
    return capacity, batches


@FAST
@given(tree_and_batches())
def test_updates_match_brute_force_last_write_wins(case):
    capacity, batches = case
    tree, reference = SumTree(capacity), np.zeros(capacity)
    for batch in batches:
        indices, priorities = (np.array(column) for column in zip(*batch, strict=True))
        tree.update(indices, priorities)
        for i, p in batch:  # sequential reference: a repeated index keeps its last value
            reference[i] = p
        np.testing.assert_array_equal(leaves(tree), reference)
        assert_consistent(tree)
        assert tree.total == reference.sum()


@FAST
@given(tree_and_batches(), st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=30))
def test_find_matches_searchsorted(case, fractions):
    capacity, batches = case
    tree = SumTree(capacity)
    for batch in batches:
        indices, priorities = (np.array(column) for column in zip(*batch, strict=True))
        tree.update(indices, priorities)
    cumsum = np.cumsum(leaves(tree))
    if cumsum[-1] == 0:
        return
    prefix_sums = np.array(fractions) * cumsum[-1]
    found = tree.find(prefix_sums)
    np.testing.assert_array_equal(found, np.searchsorted(cumsum, prefix_sums, side="right"))
    assert np.all(tree[found] > 0)


def test_many_random_float_updates_no_drift():
    rng = np.random.default_rng(0)
    tree, reference = SumTree(1000), np.zeros(1000)
    for _ in range(2000):
        indices = rng.choice(1000, size=64, replace=False)
        priorities = rng.exponential(size=64) ** 0.6
        tree.update(indices, priorities)
        reference[indices] = priorities
    np.testing.assert_array_equal(leaves(tree), reference)
    assert_consistent(tree)  # parents recomputed from children: exact, whatever the history
    assert np.isclose(tree.total, reference.sum(), rtol=1e-12, atol=0)


def test_sampling_frequencies_match_priorities():
    rng = np.random.default_rng(1)
    capacity = 13  # not a power of two: 3 padding leaves
    priorities = np.arange(capacity, dtype=np.float64) % 5  # includes zeros, several equal values
    tree = SumTree(capacity)
    tree.update(np.arange(capacity), priorities)
    indices = np.concatenate([tree.sample(32, rng)[0] for _ in range(6400)])  # 204,800 samples
    counts = np.bincount(indices, minlength=capacity)
    positive = priorities > 0
    assert counts.size == capacity and counts[~positive].sum() == 0
    expected = indices.size * priorities[positive] / priorities.sum()
    chi2 = ((counts[positive] - expected) ** 2 / expected).sum()
    # Stratification makes the counts less dispersed than multinomial, so this is conservative;
    # 31.3 is the 0.999 quantile of chi-square with 10 degrees of freedom.
    assert chi2 < 31.3, chi2
    assert np.max(np.abs(counts[positive] / indices.size - priorities[positive] / priorities.sum())) < 0.003


def test_all_equal_priorities_sample_uniformly():
    rng = np.random.default_rng(2)
    tree = SumTree(100)
    tree.update(np.arange(100), np.full(100, 0.7))
    counts = np.bincount(np.concatenate([tree.sample(250, rng)[0] for _ in range(800)]), minlength=100)
    # Stratified with batch 250 over 100 equal leaves: each leaf gets 2 or 3 per batch, exactly 2.5 on average.
    assert counts.size == 100 and np.all(np.abs(counts / counts.sum() - 0.01) < 0.001)


def test_zero_priorities_never_sampled():
    rng = np.random.default_rng(3)
    tree = SumTree(37)
    tree.update(np.arange(37), np.zeros(37))
    with pytest.raises(ValueError):
        tree.sample(8, rng)
    tree.update(np.array([5, 30]), np.array([1e-12, 2.0]))  # a tiny priority is still positive
    for _ in range(200):
        indices, priorities = tree.sample(64, rng)
        assert set(indices.tolist()) <= {5, 30} and np.all(priorities > 0)


def test_prefix_sum_at_or_beyond_total_lands_on_last_positive_leaf():
    tree = SumTree(10)  # leaves 10..15 are padding
    tree.update(np.array([0, 3, 7]), np.array([0.1, 0.2, 0.3]))
    total = tree.total
    found = tree.find(np.array([total, np.nextafter(total, 0), total * (1 + 1e-12), 1e9, -1.0, 0.0]))
    np.testing.assert_array_equal(found, [7, 7, 7, 7, 0, 0])


def test_overwrite_replaces_priority_ring_style():
    capacity = 6
    tree = SumTree(capacity)
    for step in range(20):  # a ring buffer writing position step % capacity
        tree.update(np.array([step % capacity]), np.array([float(step)]))
    np.testing.assert_array_equal(tree[np.arange(capacity)], [18, 19, 14, 15, 16, 17])
    assert tree.total == 18 + 19 + 14 + 15 + 16 + 17
    assert tree.max_priority == 19.0
    assert tree[1] == 19.0 and isinstance(tree[1], float)


def test_duplicate_indices_last_write_wins():
    tree = SumTree(5)
    tree.update(np.array([2, 4, 2, 2, 4]), np.array([1.0, 2.0, 3.0, 7.0, 0.5]))
    np.testing.assert_array_equal(tree.priorities(np.arange(5)), [0, 0, 7.0, 0, 0.5])
    assert tree.total == 7.5
    assert_consistent(tree)


@pytest.mark.parametrize("capacity", [1, 2, 3, 5, 1000, 1025])
def test_stratified_sample_shape_and_range(capacity):
    rng = np.random.default_rng(4)
    tree = SumTree(capacity)
    tree.update(np.arange(capacity), rng.random(capacity) + 0.01)
    indices, priorities = tree.sample(256, rng)
    assert indices.shape == priorities.shape == (256,)
    assert indices.dtype == np.int64 and np.all((indices >= 0) & (indices < capacity))
    np.testing.assert_array_equal(priorities, tree.priorities(indices))
    assert np.all(np.diff(indices) >= 0) or capacity == 1  # strata are ordered, so indices are too


def test_update_rejects_bad_input():
    tree = SumTree(4)
    with pytest.raises(IndexError):
        tree.update(np.array([4]), np.array([1.0]))
    with pytest.raises(IndexError):
        tree.update(np.array([-1]), np.array([1.0]))
    with pytest.raises(ValueError):
        tree.update(np.array([0]), np.array([-1.0]))
    with pytest.raises(ValueError):
        tree.update(np.array([0]), np.array([np.nan]))


def test_importance_weights():
    priorities = np.array([1.0, 2.0, 4.0])
    weights = importance_weights(priorities, total=10.0, size=5, beta=0.5)
    expected = (5 * priorities / 10.0) ** -0.5
    np.testing.assert_allclose(weights, expected / expected.max())
    assert weights.max() == 1.0 and weights[0] == 1.0  # the rarest sample gets the largest weight
    np.testing.assert_array_equal(importance_weights(priorities, 10.0, 5, beta=0.0), np.ones(3))
