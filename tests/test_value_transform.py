"""common/value_transform.py: the running statistics are those of all targets seen, and decode undoes encode."""

import torch

from common.value_transform import ValueTransform


def test_statistics_are_those_of_every_target_seen():
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randn(64, generator=gen) * 30 + 5 for _ in range(5)]
    transform = ValueTransform(symlog=True, normalize=True)
    for batch in batches:
        transform.update(batch)
    seen = torch.cat(batches)
    squashed = torch.sign(seen) * torch.log1p(seen.abs())
    torch.testing.assert_close(transform.mean, squashed.mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(transform.var, squashed.var(unbiased=False), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(transform.decode(transform.encode(seen)), seen, rtol=1e-4, atol=1e-4)


def test_off_is_the_identity():
    transform = ValueTransform(symlog=False, normalize=False)
    returns = torch.tensor([-100.0, 0.0, 3.5])
    transform.update(returns)
    assert torch.equal(transform.encode(returns), returns) and torch.equal(transform.decode(returns), returns)
    assert transform.mean == 0 and transform.var == 1
