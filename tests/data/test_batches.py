"""Device-resident batching: every index once per epoch, any batch size, reproducible."""

from __future__ import annotations

import pytest
import torch

from knobwise.data import epoch_batches, num_batches


@pytest.mark.parametrize("batch_size", [1, 3, 7, 10, 32, 1000])
@pytest.mark.parametrize("drop_last", [False, True])
def test_every_index_once(batch_size: int, drop_last: bool) -> None:
    n = 10
    g = torch.Generator().manual_seed(0)
    for _ in range(3):  # several epochs, different permutations
        batches = list(epoch_batches(n, batch_size, g, "cpu", drop_last=drop_last))
        assert len(batches) == num_batches(n, batch_size, drop_last)
        seen = torch.cat(batches)
        bs = min(batch_size, n)
        assert all(len(b) == bs for b in batches[:-1]) and 0 < len(batches[-1]) <= bs
        if drop_last:
            assert len(seen) == n - n % bs and len(set(seen.tolist())) == len(seen)
        else:
            assert sorted(seen.tolist()) == list(range(n))
        assert all(b.dtype == torch.int64 for b in batches)


def test_larger_than_n_gives_one_full_batch() -> None:
    batches = list(epoch_batches(5, 64, torch.Generator().manual_seed(0), drop_last=True))
    assert len(batches) == 1 and sorted(batches[0].tolist()) == [0, 1, 2, 3, 4]


def test_epochs_differ_and_seed_reproduces() -> None:
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    e1 = torch.cat(list(epoch_batches(50, 8, g1)))
    e2 = torch.cat(list(epoch_batches(50, 8, g1)))
    assert not torch.equal(e1, e2)
    assert torch.equal(e1, torch.cat(list(epoch_batches(50, 8, g2))))


def test_no_shuffle_and_empty() -> None:
    assert torch.cat(list(epoch_batches(5, 2, None, shuffle=False))).tolist() == [0, 1, 2, 3, 4]
    assert list(epoch_batches(0, 4, None)) == []


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"batch_size must be >= 1, got 0"):
        list(epoch_batches(5, 0, None))
    with pytest.raises(ValueError, match=r"n must be >= 0, got -1"):
        list(epoch_batches(-1, 2, None))


def test_indexing_device_tensors() -> None:
    x = torch.arange(20.0).view(20, 1)
    g = torch.Generator().manual_seed(0)
    total = sum(float(x[idx].sum()) for idx in epoch_batches(20, 6, g, x.device))
    assert total == float(x.sum())
