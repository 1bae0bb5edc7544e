"""Intervals a reviewer accepts: the mean over seeds with a 95% t-interval, and a bootstrap over test
examples (of one run's metric, or of the paired difference between two runs on the same examples).

No scipy: the two-sided 95% t quantile is a table for 1..30 degrees of freedom (the seed counts a
study uses) and the Cornish-Fisher expansion beyond, which is within 1e-4 of the exact value there.
The bootstrap draws its resamples from its own `random.Random(seed)`: a fixed seed gives a fixed
interval, and no global RNG is touched.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from typing import Any

# t_{0.975, df} for df = 1..30 (two-sided 95%), as in every statistics table.
_T975 = (12.7062047, 4.3026527, 3.1824463, 2.7764451, 2.5705818, 2.4469119, 2.3646243, 2.3060041, 2.2621572,
         2.2281389, 2.2009852, 2.1788128, 2.1603687, 2.1447867, 2.1314495, 2.1199053, 2.1098155, 2.1009220,
         2.0930241, 2.0859634, 2.0796138, 2.0738731, 2.0686576, 2.0638986, 2.0595386, 2.0555294, 2.0518305,
         2.0484071, 2.0452296, 2.0422725)
_Z975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom (half-width factor of a 95% CI)."""
    if df < 1:
        raise ValueError(f"a t interval needs at least 1 degree of freedom, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def mean_ci(values: Sequence[float]) -> tuple[float, float | None]:
    """(mean, half-width of the 95% t-interval); the half-width is None for a single value."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    return mean, t_quantile_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))


def aggregate(runs: Sequence[Any]) -> tuple[Any, Any]:
    """(mean, half-width) of the same figures from several runs, leaf by leaf: dicts by key, lists of
    equal length by position (per-epoch history); numbers give mean and 95% half-width; anything else
    is kept when every run agrees (half-width None), else None."""
    if all(isinstance(r, dict) for r in runs):
        keys = list(dict.fromkeys(k for r in runs for k in r))
        pairs = {k: aggregate([r.get(k) for r in runs]) for k in keys}
        return {k: p[0] for k, p in pairs.items()}, {k: p[1] for k, p in pairs.items()}
    if all(isinstance(r, list) for r in runs) and len({len(r) for r in runs}) == 1:
        pairs = [aggregate(list(column)) for column in zip(*runs)]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    if all(isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) for r in runs) and runs:
        if len(set(runs)) == 1:  # a count all seeds share (trainable params, epoch numbers) stays exact
            return runs[0], (0.0 if len(runs) > 1 else None)
        return mean_ci(runs)
    return (runs[0] if runs and all(r == runs[0] for r in runs) else None), None


# ------------------------------------------------------------------ bootstrap over test examples

def bootstrap_indices(n: int, resamples: int, seed: int) -> list[list[int]]:
    """`resamples` draws of n example indices with replacement, from their own seeded generator."""
    rng = random.Random(seed)
    return [[rng.randrange(n) for _ in range(n)] for _ in range(resamples)]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) of already sorted values, q in [0, 1]."""
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def bootstrap_ci(statistic: Callable[[list[int]], float], n: int, *, resamples: int = 1000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of `statistic(indices)` over bootstrap resamples of n examples. The
    statistic gets the indices, so a corpus metric (BLEU) is recomputed per resample and a paired
    difference uses the same examples for both runs."""
    values = sorted(statistic(idx) for idx in bootstrap_indices(n, resamples, seed))
    return percentile(values, 0.025), percentile(values, 0.975)


def mean_of(scores: Sequence[float]) -> Callable[[list[int]], float]:
    """The statistic 'mean per-example score' of a resample (ROUGE, EM, F1)."""
    return lambda idx: sum(scores[i] for i in idx) / len(idx)
