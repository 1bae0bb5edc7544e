"""Length-grouped batches: less padding than a plain shuffle, every example once per epoch, and still
a pure function of (seed, epoch) — the property an exact resume rests on."""

from __future__ import annotations

import random

import pytest

from peftlab.schedule import GROUP_BATCHES, epoch_batches, epoch_order


def _lengths(n: int, seed: int = 1) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(20, 300) for _ in range(n)]


def _padded(batches: list[list[int]], lengths: list[int]) -> int:
    """Positions computed when every batch is padded to its longest row."""
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


@pytest.mark.parametrize("grouped", [True, False])
def test_every_example_once_per_epoch_and_a_pure_function_of_seed_and_epoch(grouped):
    lengths = _lengths(37)
    batches = epoch_batches([30, 7], lengths, 4, seed=3, epoch=2, sampling="proportional", grouped=grouped)
    assert sorted(i for b in batches for i in b) == list(range(37))
    assert [len(b) for b in batches].count(1) == 1 and all(len(b) in (1, 4) for b in batches)
    assert batches == epoch_batches([30, 7], lengths, 4, seed=3, epoch=2, sampling="proportional", grouped=grouped)
    assert batches != epoch_batches([30, 7], lengths, 4, seed=3, epoch=3, sampling="proportional", grouped=grouped)
    assert batches != epoch_batches([30, 7], lengths, 4, seed=4, epoch=2, sampling="proportional", grouped=grouped)


def test_random_order_is_epoch_order_cut_into_batches():
    lengths = _lengths(10)
    order = epoch_order([10], 0, 1, "proportional")
    assert epoch_batches([10], lengths, 3, 0, 1, "proportional", grouped=False) == \
        [order[0:3], order[3:6], order[6:9], order[9:10]]


def test_grouped_batches_pad_far_less_than_random_ones():
    lengths = _lengths(400)
    grouped = epoch_batches([400], lengths, 8, 0, 0, "proportional", grouped=True)
    shuffled = epoch_batches([400], lengths, 8, 0, 0, "proportional", grouped=False)
    real = sum(lengths)
    assert _padded(grouped, lengths) < 1.03 * real < 1.2 * real < _padded(shuffled, lengths)


def test_the_longest_batch_comes_first_and_the_rest_are_shuffled():
    lengths = _lengths(8 * GROUP_BATCHES * 2)
    batches = epoch_batches([len(lengths)], lengths, 8, 0, 0, "proportional")
    longest = max(lengths)
    assert longest in [lengths[i] for i in batches[0]]
    firsts = [max(lengths[i] for i in b) for b in batches[1:]]
    assert firsts != sorted(firsts, reverse=True)  # not simply longest to shortest


def test_uniform_sampling_repeats_the_small_task_in_grouped_batches_too():
    lengths = _lengths(8)
    batches = epoch_batches([6, 2], lengths, 4, 0, 0, "uniform")
    flat = [i for b in batches for i in b]
    assert len(flat) == 12 and sum(i >= 6 for i in flat) == 6


def test_a_short_remainder_batch_comes_last_so_micro_batches_stay_aligned():
    lengths = _lengths(23)
    for epoch in range(5):
        batches = epoch_batches([23], lengths, 4, 0, epoch, "proportional")
        assert [len(b) for b in batches] == [4] * 5 + [3]
