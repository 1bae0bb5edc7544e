"""The analysis sentences: short claims, each computed from the figures in `results.json`.

A sentence whose figures are missing is left out rather than guessed, and ties name every tied
method, so nothing in the analysis says more than the numbers do.
"""

from __future__ import annotations

from dataclasses import dataclass

from .figures import (
    COUNT,
    MB,
    SEC,
    finite_number,
    format_ratio,
    join_names,
    lookup,
    method_figures,
    methods_of,
)


def _extremes(pairs: list[tuple[str, float]]) -> tuple[list[str], float, list[str], float]:
    """Names at the minimum and at the maximum value (ties kept), with the two values."""
    low = min(v for _, v in pairs)
    high = max(v for _, v in pairs)
    return [n for n, v in pairs if v == low], low, [n for n, v in pairs if v == high], high


@dataclass(frozen=True)
class _Ranking:
    """Which figure a 'cheapest method' sentence ranks, and how to word it."""

    key: str  # the method's figure, e.g. "peak_memory_mb"
    label: str  # e.g. "Lowest peak memory"
    noun: str  # e.g. "peak memory"
    unit: str
    spec: str
    less: str  # "less", "faster", "fewer"


MEMORY = _Ranking("peak_memory_mb", "Lowest peak memory", "peak memory", " MB", MB, "less")
SPEED = _Ranking("epoch_time_s", "Fastest per epoch", "time per epoch", " s", SEC, "faster")
PARAMS = _Ranking(
    "trainable_params", "Fewest trainable parameters", "trainable parameter count", "", COUNT,
    "fewer",
)  # fmt: skip


def _cheapest_sentence(results: dict, how: _Ranking) -> list[str]:
    """'Label: a at v, r× less than b (w).' — shared by memory, time and parameter counts.

    Methods without the figure are named, so "cheapest" never silently means "cheapest of some".
    """
    pairs = method_figures(results, how.key)
    if len(pairs) < 2:
        return []
    low_names, low, high_names, high = _extremes(pairs)
    tied = _overlapping(results, (how.key,), low_names)
    if len(tied) > len(low_names):
        return [f"{how.label}: no clear winner — {join_names(tied)} have overlapping 95% intervals of "
                f"{how.noun} over seeds."]
    if low == high:
        text = f"All measured methods have the same {how.noun} ({format(low, how.spec)}{how.unit})"
    else:
        text = f"{how.label}: {join_names(low_names)} at {format(low, how.spec)}{how.unit}"
        if low > 0:
            text += f", {format_ratio(high / low)} {how.less} than"
        else:  # a ratio to zero or a negative RSS growth means nothing
            text += "; highest is"
        text += f" {join_names(high_names)} ({format(high, how.spec)}{how.unit})"
    missing = [n for n in methods_of(results) if n not in dict(pairs)]
    return [text + (f" ({join_names(missing)} not measured)." if missing else ".")]


def paired_sentence(a: str, b: str, difference: float, ci: list[float], metric: str) -> str:
    """'a beats b by +X metric (95% CI [lo, hi])' when the paired interval excludes 0 (either way
    round), else 'a and b are indistinguishable at this budget': the words follow the interval."""
    lo, hi = ci
    if lo > 0:
        text = f"{a} beats {b} by {difference:+.2f} {metric} (95% CI [{lo:.2f}, {hi:.2f}])."
    elif hi < 0:
        text = f"{b} beats {a} by {-difference:+.2f} {metric} (95% CI [{-hi:.2f}, {-lo:.2f}])."
    else:
        text = (f"{a} and {b} are indistinguishable at this budget ({metric} difference {difference:+.2f}, "
                f"95% CI [{lo:.2f}, {hi:.2f}]).")
    return "The" + text[3:] if text.startswith("the ") else text  # method names keep their case


def _interval_sentences(results: dict) -> list[str]:
    """The quality claims from the paired bootstrap over test examples: best vs runner-up, then each
    method vs the base model."""
    u = lookup(results, "uncertainty") or {}
    metric = u.get("metric") or lookup(results, "primary_metric") or "quality"
    sentences = []
    top = u.get("best_vs_runner_up")
    if top:
        sentences.append(paired_sentence(top["best"], top["runner_up"], top["difference"], top["ci"], metric))
    for name, d in (u.get("vs_base") or {}).items():
        sentences.append(paired_sentence(name, "the base model", d["difference"], d["ci"], metric))
    if sentences:
        sentences.append(f"Intervals: paired bootstrap over the {u.get('examples')} test examples "
                         f"({u.get('resamples')} resamples).")
    return sentences


def _overlapping(results: dict, keys: tuple[str, ...], names: list[str]) -> list[str]:
    """The methods whose 95% interval over seeds overlaps that of any of `names` (them included)."""
    spans = {n: (v - h, v + h) for n, m in methods_of(results).items()
             if (v := finite_number(lookup(m, *keys))) is not None
             and (h := finite_number(lookup(m, "ci", *keys))) is not None}
    if not all(n in spans for n in names):
        return names
    return [n for n, (lo, hi) in spans.items() if any(lo <= spans[t][1] and spans[t][0] <= hi for t in names)]


def _quality_sentences(results: dict) -> list[str]:
    """Best primary quality metric and its gain over the base model (all are higher-is-better); with a
    bootstrap over examples, the paired-interval sentences instead; with seeds, methods whose
    intervals overlap the best one's are named with it."""
    if lookup(results, "uncertainty", "vs_base"):
        return _interval_sentences(results)
    metric = lookup(results, "primary_metric")
    pairs = method_figures(results, "quality", metric) if metric else []
    if not pairs:
        return []
    _, _, best_names, best = _extremes(pairs)
    tied = _overlapping(results, ("quality", metric), best_names)
    if len(tied) > len(best_names):
        return [f"No clear best {metric}: {join_names(tied)} have overlapping 95% intervals over seeds."]
    text = f"Best {metric}: {join_names(best_names)} at {best:.2f}"
    base = finite_number(lookup(results, "baseline", "quality", metric))
    if base is not None:
        text += f", {best - base:+.2f} points vs the base model ({base:.2f})"
    return [text + "."]


def _gap_sentences(results: dict) -> list[str]:
    """Final val − train loss per method (from `loss`); the largest is flagged as overfitting."""
    gaps = [
        (name, val - train)
        for name, m in methods_of(results).items()
        if (train := finite_number(lookup(m, "loss", "train"))) is not None
        and (val := finite_number(lookup(m, "loss", "val"))) is not None
    ]
    if not gaps:
        return []
    listed = ", ".join(f"{name} {gap:+.3f}" for name, gap in gaps)
    sentences = [f"Final train–val loss gap (val − train): {listed}."]
    if len(gaps) >= 2:
        _, _, top_names, top = _extremes(gaps)
        sentences.append(
            f"Largest gap, the strongest overfitting signal: {join_names(top_names)} ({top:+.3f})."
        )
    return sentences


def _rising_val_sentence(name: str, history: list[dict]) -> list[str]:
    """Say so when val loss rose over the final epochs of `history` (consecutive rises)."""
    points = [
        (lookup(e, "epoch"), v)
        for e in history
        if (v := finite_number(lookup(e, "val_loss"))) is not None
    ]
    start = len(points) - 1
    while start > 0 and points[start][1] > points[start - 1][1]:
        start -= 1
    rises = len(points) - 1 - start
    if rises == 0:
        return []
    (e0, v0), (e1, v1) = points[start], points[-1]
    span = "epoch" if rises == 1 else f"{rises} epochs"
    change = f"epoch {e0} {v0:.3f} → epoch {e1} {v1:.3f}"
    return [f"{name}: val loss rose over the last {span} ({change})."]


def _empty_sentences(results: dict) -> list[str]:
    """Say so when a model's quality comes from empty outputs: an empty answer scores (about) zero,
    so a low mean can mean "stops at once" rather than "says the wrong thing"."""
    metric = lookup(results, "primary_metric") or "quality"
    rows = [*methods_of(results).items(), ("The base model", lookup(results, "baseline") or {})]
    sentences = []
    for name, row in rows:
        counts = lookup(row, "generations") or {}
        empty, n = counts.get("empty"), counts.get("examples")
        if not empty or not n:
            continue
        if empty == n:
            sentences.append(f"{name}: all {n} generations are empty, so its {metric} measures when it stops, "
                             "not what it says.")
        else:
            sentences.append(f"{name}: {empty} of {n} generations are empty (scored as wrong answers), "
                             f"which pulls its {metric} down.")
    return sentences


def analysis_sentences(results: dict) -> list[str]:
    """Short sentences, each computed from the figures; one whose figures are missing is skipped.

    Order: memory, speed, quality, parameters, loss gaps, then any rising val loss per method.
    """
    sentences = (
        _cheapest_sentence(results, MEMORY)
        + _cheapest_sentence(results, SPEED)
        + _quality_sentences(results)
        + _empty_sentences(results)
        + _cheapest_sentence(results, PARAMS)
        + _gap_sentences(results)
    )
    for name, m in methods_of(results).items():
        sentences += _rising_val_sentence(name, lookup(m, "history") or [])
    return sentences
