"""Render a side-by-side comparison of the fine-tuning methods from a `results.json` dict.

The report is built once as a small list of blocks (heading, paragraph, table, bullets, image) and
rendered twice, to Markdown and to self-contained HTML, so the two can never disagree. Every figure
in either comes from the results dict: a missing or None figure is shown as an em dash, and an
analysis sentence that would need it is left out rather than guessed.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

import matplotlib

matplotlib.use("Agg")  # headless: reports are rendered on servers and in CI

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

DASH = "—"
BASE_ROW = "base model (no adapter)"
PLOT_FILES = ("loss.png", "memory.png", "time.png", "params.png", "quality.png")
UNTRAINED_NOTE = "random weights, untrained — figures test the pipeline, not the method"


# --- reading the results dict -------------------------------------------------------------------


def _get(data: Any, *keys: str) -> Any:
    """Walk nested dicts; None when any level is missing, so absent steps never raise."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _number(value: Any) -> float | None:
    """A finite number or None: NaN/inf cannot be ranked, so analysis treats them as missing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None  # ints stay ints: counts print without ".0"


def _methods(results: dict) -> dict[str, dict]:
    """Method name -> its figures, in the order the run produced them (None -> empty)."""
    return {name: (m or {}) for name, m in (_get(results, "methods") or {}).items()}


def _figures(results: dict, *keys: str) -> list[tuple[str, float]]:
    """(method, value) for every method that has a finite value at `keys`."""
    pairs = [(name, _number(_get(m, *keys))) for name, m in _methods(results).items()]
    return [(name, v) for name, v in pairs if v is not None]


def _quality_metrics(results: dict) -> list[str]:
    """Every quality metric reported by the base model or any method, first-seen order."""
    seen: dict[str, None] = {}
    for q in [_get(results, "baseline", "quality")] + [
        _get(m, "quality") for m in _methods(results).values()
    ]:
        seen.update(dict.fromkeys(q or {}))
    return list(seen)


# --- number formatting --------------------------------------------------------------------------

# One format per kind of figure, used by the tables, the sentences and the plot labels alike, so a
# number reads the same everywhere it appears.
LOSS, MB, SEC, TOKS, QUAL, COUNT = ".3f", ".1f", ".1f", ",.0f", ".2f", ","


def _fmt(value: Any, spec: str) -> str:
    """Format a figure with `spec`, or an em dash when it is missing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return DASH
    return format(value, spec)


def _fmt_pct(value: Any) -> str:
    """Percent with 3 significant digits: prompt tuning is ~0.002%, last layer several %."""
    text = _fmt(value, ".3g")
    return text if text == DASH else text + "%"


def _fmt_ratio(ratio: float) -> str:
    """Ratios read as '1.49×' near one and '1,234×' when far apart."""
    if ratio < 10:
        return f"{ratio:.2f}×"
    return f"{ratio:.1f}×" if ratio < 100 else f"{ratio:,.0f}×"


def _fmt_names(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c' — ties are named together, never broken arbitrarily."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# --- document model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: bool = True  # right-align every column but the first


@dataclass(frozen=True)
class Image:
    file: str
    alt: str


Block = Union[Heading, Paragraph, Bullets, Table, Image]


# --- analysis -----------------------------------------------------------------------------------


def _extremes(pairs: list[tuple[str, float]]) -> tuple[list[str], float, list[str], float]:
    """Names at the minimum and at the maximum value (ties kept), with the two values."""
    low = min(v for _, v in pairs)
    high = max(v for _, v in pairs)
    return [n for n, v in pairs if v == low], low, [n for n, v in pairs if v == high], high


@dataclass(frozen=True)
class _Ranking:
    """How to word a 'cheapest method' sentence for one figure."""

    label: str  # e.g. "Lowest peak memory"
    noun: str  # e.g. "peak memory"
    unit: str
    spec: str
    less: str  # "less", "faster", "fewer"


def _cheapest_sentence(results: dict, key: str, how: _Ranking) -> list[str]:
    """'Label: a at v, r× less than b (w).' — shared by memory, time and parameter counts.

    Methods without the figure are named, so "cheapest" never silently means "cheapest of some".
    """
    pairs = _figures(results, key)
    if len(pairs) < 2:
        return []
    low_names, low, high_names, high = _extremes(pairs)
    if low == high:
        text = f"All measured methods have the same {how.noun} ({format(low, how.spec)}{how.unit})"
    else:
        text = f"{how.label}: {_fmt_names(low_names)} at {format(low, how.spec)}{how.unit}"
        if low > 0:
            text += f", {_fmt_ratio(high / low)} {how.less} than"
        else:  # a ratio to zero or a negative RSS growth means nothing
            text += "; highest is"
        text += f" {_fmt_names(high_names)} ({format(high, how.spec)}{how.unit})"
    missing = [n for n in _methods(results) if n not in dict(pairs)]
    return [text + (f" ({_fmt_names(missing)} not measured)." if missing else ".")]


def _memory_sentences(results: dict) -> list[str]:
    """Cheapest method in peak memory and its ratio to the most expensive."""
    how = _Ranking("Lowest peak memory", "peak memory", " MB", MB, "less")
    return _cheapest_sentence(results, "peak_memory_mb", how)


def _speed_sentences(results: dict) -> list[str]:
    """Fastest method per epoch (mean) and its ratio to the slowest."""
    how = _Ranking("Fastest per epoch", "time per epoch", " s", SEC, "faster")
    return _cheapest_sentence(results, "epoch_time_s", how)


def _params_sentences(results: dict) -> list[str]:
    """Fewest trainable parameters and the ratio to the most."""
    how = _Ranking("Fewest trainable parameters", "trainable parameter count", "", COUNT, "fewer")
    return _cheapest_sentence(results, "trainable_params", how)


def _quality_sentences(results: dict) -> list[str]:
    """Best primary quality metric and its gain over the base model (all are higher-is-better)."""
    metric = _get(results, "primary_metric")
    pairs = _figures(results, "quality", metric) if metric else []
    if not pairs:
        return []
    _, _, best_names, best = _extremes(pairs)
    text = f"Best {metric}: {_fmt_names(best_names)} at {best:.2f}"
    base = _number(_get(results, "baseline", "quality", metric))
    if base is not None:
        text += f", {best - base:+.2f} points vs the base model ({base:.2f})"
    return [text + "."]


def _gap_sentences(results: dict) -> list[str]:
    """Final val − train loss per method (from `loss`); the largest is flagged as overfitting."""
    gaps = [
        (name, val - train)
        for name, m in _methods(results).items()
        if (train := _number(_get(m, "loss", "train"))) is not None
        and (val := _number(_get(m, "loss", "val"))) is not None
    ]
    if not gaps:
        return []
    listed = ", ".join(f"{name} {gap:+.3f}" for name, gap in gaps)
    sentences = [f"Final train–val loss gap (val − train): {listed}."]
    if len(gaps) >= 2:
        _, _, top_names, top = _extremes(gaps)
        sentences.append(
            f"Largest gap, the strongest overfitting signal: {_fmt_names(top_names)} ({top:+.3f})."
        )
    return sentences


def _rising_val_sentence(name: str, history: list[dict]) -> list[str]:
    """Say so when val loss rose over the final epochs of `history` (consecutive rises)."""
    points = [
        (_get(e, "epoch"), v) for e in history if (v := _number(_get(e, "val_loss"))) is not None
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


def analysis_sentences(results: dict) -> list[str]:
    """Short sentences, each computed from the figures; one whose figures are missing is skipped.

    Order: memory, speed, quality, parameters, loss gaps, then any rising val loss per method.
    """
    sentences = (
        _memory_sentences(results)
        + _speed_sentences(results)
        + _quality_sentences(results)
        + _params_sentences(results)
        + _gap_sentences(results)
    )
    for name, m in _methods(results).items():
        sentences += _rising_val_sentence(name, _get(m, "history") or [])
    return sentences


# --- building the document ----------------------------------------------------------------------


def _title_blocks(results: dict) -> list[Block]:
    """Title naming task and model; the untrained warning comes first so nobody misreads figures."""
    task = _get(results, "task") or DASH
    model = _get(results, "model", "label") or _get(results, "model", "name") or DASH
    blocks: list[Block] = [Heading(f"peftlab comparison: {task} — {model}", 1)]
    if _get(results, "model", "untrained") is True:
        blocks.append(Paragraph(f"Model: {UNTRAINED_NOTE}."))
    return blocks + [Paragraph(_setup_text(results))]


def _setup_text(results: dict) -> str:
    """One line each about task, model size and data split sizes, all from the results."""
    sizes = _get(results, "data", "sizes") or {}
    split_text = " / ".join(f"{k} {_fmt(v, COUNT)}" for k, v in sizes.items()) or DASH
    return (
        f"Task: {_get(results, 'task') or DASH} "
        f"(primary metric: {_get(results, 'primary_metric') or DASH}). "
        f"Model: {_get(results, 'model', 'name') or DASH}, "
        f"{_fmt(_get(results, 'model', 'total_params'), COUNT)} parameters. "
        f"Data: {_get(results, 'data', 'origin') or DASH}, examples {split_text}."
    )


def _main_header(metrics: list[str]) -> list[str]:
    """Column names of the main table; quality metrics are appended as reported."""
    return [
        "method", "trainable params", "% of model", "loss train", "loss val", "loss test",
        "peak memory MB", "time/epoch s", "tokens/s", *metrics,
    ]  # fmt: skip


def _loss_and_quality(row: dict, metrics: list[str]) -> tuple[list[str], list[str]]:
    """Loss train/val/test cells and quality cells — the columns the base model also has."""
    loss = [_fmt(_get(row, "loss", split), LOSS) for split in ("train", "val", "test")]
    return loss, [_fmt(_get(row, "quality", k), QUAL) for k in metrics]


def _method_row(name: str, m: dict, metrics: list[str]) -> list[str]:
    """One method's row: cost figures from the run, then loss and quality."""
    loss, quality = _loss_and_quality(m, metrics)
    return [
        name,
        _fmt(_get(m, "trainable_params"), COUNT),
        _fmt_pct(_get(m, "trainable_pct")),
        *loss,
        _fmt(_get(m, "peak_memory_mb"), MB),
        _fmt(_get(m, "epoch_time_s"), SEC),
        _fmt(_get(m, "train_tokens_per_s"), TOKS),
        *quality,
    ]


def _base_row(results: dict, metrics: list[str]) -> list[str]:
    """The base model was only evaluated: cost columns are not applicable, shown as a dash."""
    loss, quality = _loss_and_quality(_get(results, "baseline") or {}, metrics)
    return [BASE_ROW, DASH, DASH, *loss, DASH, DASH, DASH, *quality]


def _results_blocks(results: dict) -> list[Block]:
    """Main table (one row per method plus the base model), with the memory figure's meaning."""
    metrics = _quality_metrics(results)
    rows = [_method_row(n, m, metrics) for n, m in _methods(results).items()]
    rows.append(_base_row(results, metrics))
    return [
        Heading("Results"),
        Paragraph(f"Peak memory is: {_get(results, 'memory_kind') or DASH}."),
        Table(_main_header(metrics), rows),
        Paragraph(f"{DASH} = not measured or not applicable. Time/epoch is the mean over epochs."),
    ]


def _history_blocks(results: dict) -> list[Block]:
    """Every epoch of every method, so the mean time per epoch can be checked."""
    rows = [
        [name, _fmt(_get(e, "epoch"), "g"), _fmt(_get(e, "train_loss"), LOSS),
         _fmt(_get(e, "val_loss"), LOSS), _fmt(_get(e, "time_s"), SEC)]
        for name, m in _methods(results).items()
        for e in (_get(m, "history") or [])
    ]  # fmt: skip
    if not rows:
        return [Heading("Per-epoch history"), Paragraph("No per-epoch history was recorded.")]
    header = ["method", "epoch", "train loss", "val loss", "time s"]
    return [Heading("Per-epoch history"), Table(header, rows)]


def _analysis_blocks(results: dict) -> list[Block]:
    """The computed sentences as a bullet list."""
    sentences = analysis_sentences(results)
    return [Heading("Analysis"), Bullets(sentences) if sentences else Paragraph(DASH)]


def _plot_blocks() -> list[Block]:
    """The five charts, referenced by file name (inlined by the HTML renderer)."""
    alts = {
        "loss.png": "train (solid) and val (dashed) loss per epoch",
        "memory.png": "peak memory per method",
        "time.png": "mean time per epoch per method",
        "params.png": "trainable parameters per method (log scale)",
        "quality.png": "primary quality metric per method vs the base model",
    }
    return [Heading("Plots")] + [Image(f, alts[f]) for f in PLOT_FILES]


def _value_text(value: Any) -> str:
    """Config/environment values verbatim: strings as-is, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _key_value_blocks(results: dict, key: str, title: str) -> list[Block]:
    """Every key of `results[key]` in a two-column table, nothing filtered."""
    items = _get(results, key) or {}
    if not items:
        return [Heading(title), Paragraph(DASH)]
    rows = [[str(k), _value_text(v)] for k, v in items.items()]
    return [Heading(title), Table(["key", "value"], rows, numeric=False)]


def build_document(results: dict) -> list[Block]:
    """The whole report as blocks, rendered identically to Markdown and HTML."""
    return (
        _title_blocks(results)
        + _results_blocks(results)
        + _history_blocks(results)
        + _analysis_blocks(results)
        + _plot_blocks()
        + _key_value_blocks(results, "config", "Configuration")
        + _key_value_blocks(results, "environment", "Environment")
    )


# --- Markdown -----------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    """Keep a cell on one row of a Markdown table."""
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    """GitHub-flavoured pipe table; numbers right-aligned."""
    align = ["---"] + (["---:"] if table.numeric else ["---"]) * (len(table.header) - 1)
    lines = [table.header, align, *table.rows]
    return "\n".join("| " + " | ".join(_md_cell(c) for c in line) + " |" for line in lines)


def _md_block(block: Block) -> str:
    """One block as Markdown."""
    if isinstance(block, Heading):
        return "#" * block.level + " " + block.text
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        return _md_table(block)
    return f"![{block.alt}]({block.file})"


def render_markdown(blocks: list[Block]) -> str:
    """Blocks separated by blank lines, as Markdown wants."""
    return "\n\n".join(_md_block(b) for b in blocks) + "\n"


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; }
th { background: #f2f2f2; }
table.num td:not(:first-child) { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; display: block; margin: 1rem 0; }
"""


def _html_table(table: Table) -> str:
    """A plain <table>; every cell escaped."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    cls = ' class="num"' if table.numeric else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_block(block: Block, images: dict[str, bytes]) -> str:
    """One block as HTML; images become base64 data URIs so the file stands alone."""
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        return _html_table(block)
    data = base64.b64encode(images[block.file]).decode("ascii")
    alt = html.escape(block.alt, quote=True)
    return f'<img alt="{alt}" title="{html.escape(block.file)}" src="data:image/png;base64,{data}">'


def render_html(blocks: list[Block], images: dict[str, bytes]) -> str:
    """A single self-contained page: inline CSS, embedded PNGs, no external resources."""
    title = next((b.text for b in blocks if isinstance(b, Heading)), "peftlab report")
    body = "\n".join(_html_block(b, images) for b in blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


# --- plots --------------------------------------------------------------------------------------


def _colours(results: dict) -> dict[str, str]:
    """One fixed colour per method, the same on every chart."""
    return {name: f"C{i % 10}" for i, name in enumerate(_methods(results))}


def _save(fig: Figure, path: Path) -> Path:
    """Write a PNG without the matplotlib version stamp, so reruns give identical files."""
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
    return path


def _loss_plot(results: dict, path: Path) -> Path:
    """Train (solid) and val (dashed) loss per epoch, one colour per method."""
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    colours, drawn = _colours(results), False
    for name, m in _methods(results).items():
        for key, style in (("train_loss", "-"), ("val_loss", "--")):
            points = [
                (x, y)
                for e in (_get(m, "history") or [])
                if (x := _number(_get(e, "epoch"))) is not None
                and (y := _number(_get(e, key))) is not None
            ]
            if points:
                xs, ys = zip(*points)
                label = f"{name} {key.split('_')[0]}"
                ax.plot(xs, ys, style, marker="o", color=colours[name], label=label)
                drawn = True
    ax.set(title="Loss per epoch", xlabel="epoch", ylabel="loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if drawn:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no per-epoch history recorded", ha="center", transform=ax.transAxes)
    return _save(fig, path)


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


def _draw_bar(ax: Any, x: int, name: str, bars: _Bars) -> bool:
    """Draw one labelled bar, or an em dash where the figure is missing; True if drawn."""
    value = bars.values[name]
    if value is None or (bars.log and value <= 0):
        where = blended_transform_factory(ax.transData, ax.transAxes)
        ax.text(x, 0.02, f"{DASH} not measured", ha="center", transform=where)
        return False
    container = ax.bar(x, value, color=bars.colours.get(name, "C0"))
    ax.bar_label(container, labels=[format(value, bars.spec)], fontsize="small")
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


def _bar_specs(results: dict) -> dict[str, _Bars]:
    """The four bar charts, keyed by file name."""
    colours = _colours(results)

    def values(*keys: str) -> dict[str, float | None]:
        return {name: _number(_get(m, *keys)) for name, m in _methods(results).items()}

    metric = _get(results, "primary_metric") or DASH
    base = _number(_get(results, "baseline", "quality", metric))
    return {
        "memory.png": _Bars("Peak memory", "MB", values("peak_memory_mb"), MB, colours=colours),
        "time.png": _Bars("Mean time per epoch", "s", values("epoch_time_s"), SEC, colours=colours),
        "params.png": _Bars(
            "Trainable parameters", "count (log)", values("trainable_params"), COUNT, True,
            colours=colours,
        ),
        "quality.png": _Bars(
            f"Quality: {metric}", metric, values("quality", metric), QUAL, baseline=base,
            colours=colours,
        ),
    }  # fmt: skip


def render_plots(results: dict, out_dir: Path) -> dict[str, Path]:
    """Write the five PNGs into `out_dir`; returns file name -> path."""
    paths = {"loss.png": _loss_plot(results, out_dir / "loss.png")}
    for name, bars in _bar_specs(results).items():
        paths[name] = _bar_plot(bars, out_dir / name)
    return paths


# --- entry point --------------------------------------------------------------------------------


def render_report(results: dict, out_dir: Path) -> dict[str, Path]:
    """Write report.md, report.html and the five plots into `out_dir`; returns name -> path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = render_plots(results, out_dir)
    blocks = build_document(results)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(render_markdown(blocks), encoding="utf-8")
    images = {name: path.read_bytes() for name, path in plots.items()}
    html_path.write_text(render_html(blocks, images), encoding="utf-8")
    return {"report.md": md_path, "report.html": html_path, **plots}
