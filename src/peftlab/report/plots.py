"""The report's five charts as PNG files: loss per epoch, and a bar chart each for peak memory,
time per epoch, trainable parameters and the primary quality metric.

A missing figure is marked on the chart ("— not measured"), never drawn as zero, and each method
keeps one colour across all five charts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: reports are rendered on servers and in CI

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from .figures import COUNT, DASH, MB, QUAL, SEC, finite_number, lookup, methods_of  # noqa: E402


def _colours(results: dict) -> dict[str, str]:
    """One fixed colour per method, the same on every chart."""
    return {name: f"C{i % 10}" for i, name in enumerate(methods_of(results))}


def _save(fig: Figure, path: Path) -> Path:
    """Write a PNG without the matplotlib version stamp, so reruns give identical files."""
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
    return path


# --- loss per epoch -----------------------------------------------------------------------------


def _epoch_points(method: dict, key: str) -> list[tuple[float, float]]:
    """(epoch, value of `key`) for every epoch in the method's history that has both."""
    return [
        (x, y)
        for e in (lookup(method, "history") or [])
        if (x := finite_number(lookup(e, "epoch"))) is not None
        and (y := finite_number(lookup(e, key))) is not None
    ]


def _draw_spread(ax: Any, method: dict, key: str, colour: str) -> None:
    """With seeds: the 95% interval of the mean loss per epoch as a band around the curve."""
    band = [
        (x, y - h, y + h)
        for e, c in zip(lookup(method, "history") or [], lookup(method, "ci", "history") or [])
        if (x := finite_number(lookup(e, "epoch"))) is not None
        and (y := finite_number(lookup(e, key))) is not None
        and (h := finite_number(lookup(c, key))) is not None
    ]
    if band:
        xs, lows, highs = zip(*band)
        ax.fill_between(xs, lows, highs, color=colour, alpha=0.15, linewidth=0)


def _loss_plot(results: dict, path: Path) -> Path:
    """Train (solid) and val (dashed) loss per epoch, one colour per method (with seeds: the mean,
    and its 95% interval as a band)."""
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    colours, drawn = _colours(results), False
    for name, m in methods_of(results).items():
        for key, style in (("train_loss", "-"), ("val_loss", "--")):
            points = _epoch_points(m, key)
            if points:
                xs, ys = zip(*points)
                label = f"{name} {key.split('_')[0]}"
                ax.plot(xs, ys, style, marker="o", color=colours[name], label=label)
                _draw_spread(ax, m, key, colours[name])
                drawn = True
    ax.set(title="Loss per epoch", xlabel="epoch", ylabel="loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if drawn:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no per-epoch history recorded", ha="center", transform=ax.transAxes)
    return _save(fig, path)


# --- bar charts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bars:
    """One bar chart: a value (or None) per method, optionally a base-model reference line."""

    title: str
    ylabel: str
    values: dict[str, float | None]
    spec: str
    log: bool = False
    baseline: float | None = None
    colours: dict[str, str] = field(default_factory=dict)
    errors: dict[str, float | None] = field(default_factory=dict)  # 95% half-widths over seeds


def _draw_bar(ax: Any, x: int, name: str, bars: _Bars) -> bool:
    """Draw one labelled bar, or an em dash where the figure is missing; True if drawn."""
    value = bars.values[name]
    if value is None or (bars.log and value <= 0):
        where = blended_transform_factory(ax.transData, ax.transAxes)
        ax.text(x, 0.02, f"{DASH} not measured", ha="center", transform=where)
        return False
    error = bars.errors.get(name)
    container = ax.bar(x, value, color=bars.colours.get(name, "C0"), yerr=error, capsize=4 if error else 0)
    text = format(value, bars.spec) + (f" ± {format(error, bars.spec)}" if error else "")
    ax.bar_label(container, labels=[text], fontsize="small")
    return True


def _bar_plot(bars: _Bars, path: Path) -> Path:
    """A bar per method; missing figures are marked, never drawn as zero."""
    fig = Figure(figsize=(6, 3.8))
    ax = fig.add_subplot()
    names = list(bars.values)
    drawn = [_draw_bar(ax, x, name, bars) for x, name in enumerate(names)]
    ax.set_xticks(range(len(names)), names)
    ax.set(title=bars.title, ylabel=bars.ylabel)
    if bars.log and any(drawn):
        ax.set_yscale("log")
    if bars.baseline is not None:
        label = f"base model ({format(bars.baseline, bars.spec)})"
        ax.axhline(bars.baseline, linestyle="--", color="grey", label=label)
        ax.legend(fontsize="small")
    if not names:
        ax.text(0.5, 0.5, "no methods in results", ha="center", transform=ax.transAxes)
    ax.margins(y=0.15)
    return _save(fig, path)


def _per_method(results: dict, *keys: str) -> dict[str, float | None]:
    """Every method's figure at `keys`, None where missing, so the chart can mark the gap."""
    return {name: finite_number(lookup(m, *keys)) for name, m in methods_of(results).items()}


def _bar_specs(results: dict) -> dict[str, _Bars]:
    """The four bar charts, keyed by file name."""
    colours = _colours(results)
    metric = lookup(results, "primary_metric") or DASH
    base = finite_number(lookup(results, "baseline", "quality", metric))
    return {
        "memory.png": _Bars(
            "Peak memory", "MB", _per_method(results, "peak_memory_mb"), MB, colours=colours,
            errors=_per_method(results, "ci", "peak_memory_mb"),
        ),
        "time.png": _Bars(
            "Mean time per epoch", "s", _per_method(results, "epoch_time_s"), SEC, colours=colours,
            errors=_per_method(results, "ci", "epoch_time_s"),
        ),
        "params.png": _Bars(
            "Trainable parameters", "count (log)", _per_method(results, "trainable_params"), COUNT,
            True, colours=colours,
        ),
        "quality.png": _Bars(
            f"Quality: {metric}", metric, _per_method(results, "quality", metric), QUAL,
            baseline=base, colours=colours, errors=_per_method(results, "ci", "quality", metric),
        ),
    }  # fmt: skip


def _search_plot(results: dict, path: Path) -> Path:
    """Final val loss against learning rate (log scale), one line per method, the chosen rate circled."""
    fig = Figure(figsize=(6, 3.8))
    ax = fig.add_subplot()
    colours = _colours(results)
    for name, m in (lookup(results, "lr_search", "methods") or {}).items():
        points = [(g["lr"], v) for g in m.get("grid") or [] if (v := finite_number(g.get("val_loss"))) is not None]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", color=colours.get(name, "C0"), label=name)
            ax.plot([x for x, _ in points if x == m.get("chosen")], [y for x, y in points if x == m.get("chosen")],
                    "o", markersize=12, fillstyle="none", color=colours.get(name, "C0"))
    ax.set_xscale("log")
    ax.set(title="Learning-rate search (circled: chosen)", xlabel="learning rate", ylabel="final val loss")
    ax.legend(fontsize="small")
    return _save(fig, path)


def _cost_plot(results: dict, path: Path) -> Path:
    """Quality against three costs, one point per method, error bars from seeds where there are any:
    the cheapest adequate method is the leftmost point high enough."""
    metric = lookup(results, "primary_metric") or DASH
    fig = Figure(figsize=(10, 3.6))
    colours = _colours(results)
    costs = (("trainable_params", "trainable parameters (log)"), ("peak_memory_mb", "peak memory MB"),
             ("epoch_time_s", "time per epoch s"))
    for i, (key, label) in enumerate(costs):
        ax = fig.add_subplot(1, 3, i + 1)
        for name, m in methods_of(results).items():
            x, y = finite_number(lookup(m, key)), finite_number(lookup(m, "quality", metric))
            if x is None or y is None:
                continue
            xerr, yerr = finite_number(lookup(m, "ci", key)), finite_number(lookup(m, "ci", "quality", metric))
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color=colours[name], capsize=3, label=name)
        if key == "trainable_params":
            ax.set_xscale("log")
        ax.set(xlabel=label, ylabel=metric if i == 0 else None)
        if i == 0:
            ax.legend(fontsize="small")
    return _save(fig, path)


def render_plots(results: dict, out_dir: Path) -> dict[str, Path]:
    """Write the five PNGs into `out_dir` (and the lr-search plot where there was one); returns file
    name -> path."""
    paths = {"loss.png": _loss_plot(results, out_dir / "loss.png")}
    for name, bars in _bar_specs(results).items():
        paths[name] = _bar_plot(bars, out_dir / name)
    if any(lookup(m, "train_flops") is not None for m in methods_of(results).values()):
        paths["cost.png"] = _cost_plot(results, out_dir / "cost.png")
    if lookup(results, "lr_search", "methods"):
        paths["lr_search.png"] = _search_plot(results, out_dir / "lr_search.png")
    return paths
