"""The report as a list of blocks: headings, paragraphs, tables, bullets and images.

The document is built once from the results dict and rendered twice (see `render.py`), to Markdown
and to HTML, so the two can never disagree. Every cell comes from the results: a missing or None
figure is an em dash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Union

from .analysis import analysis_sentences
from .figures import (
    COUNT,
    DASH,
    LOSS,
    MB,
    QUAL,
    SEC,
    TOKS,
    format_cell,
    format_figure,
    format_percent,
    lookup,
    methods_of,
    quality_metrics,
)

BASE_ROW = "base model (no adapter)"
UNTRAINED_NOTE = "random weights, untrained — figures test the pipeline, not the method"
# The five charts, in report order, with the alt text that says what each shows.
PLOT_ALTS = {
    "loss.png": "train (solid) and val (dashed) loss per epoch",
    "memory.png": "peak memory per method",
    "time.png": "mean time per epoch per method",
    "params.png": "trainable parameters per method (log scale)",
    "quality.png": "primary quality metric per method vs the base model",
}
PLOT_FILES = tuple(PLOT_ALTS)


# --- blocks -------------------------------------------------------------------------------------


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


# --- title and setup ----------------------------------------------------------------------------


def _title_blocks(results: dict) -> list[Block]:
    """Title naming task and model; the untrained warning comes first so nobody misreads figures."""
    task = lookup(results, "task") or DASH
    model = lookup(results, "model", "label") or lookup(results, "model", "name") or DASH
    blocks: list[Block] = [Heading(f"peftlab comparison: {task} — {model}", 1)]
    if lookup(results, "model", "untrained") is True:
        blocks.append(Paragraph(f"Model: {UNTRAINED_NOTE}."))
    return blocks + [Paragraph(_setup_text(results)), Paragraph(_measured_on_text(results))]


def _setup_text(results: dict) -> str:
    """One line each about task, model size and data split sizes, all from the results."""
    sizes = lookup(results, "data", "sizes") or {}
    split_text = " / ".join(f"{k} {format_figure(v, COUNT)}" for k, v in sizes.items()) or DASH
    return (
        f"Task: {lookup(results, 'task') or DASH} "
        f"(primary metric: {lookup(results, 'primary_metric') or DASH}). "
        f"Model: {lookup(results, 'model', 'name') or DASH}, "
        f"{format_figure(lookup(results, 'model', 'total_params'), COUNT)} parameters. "
        f"Data: {lookup(results, 'data', 'origin') or DASH}, examples {split_text}."
    )


def _measured_on_text(results: dict) -> str:
    """Where the figures come from: time and memory mean little without the device, its bf16 support,
    the precision (and whether "auto" chose it) and the thread count."""
    env = lookup(results, "environment") or {}
    precision = env.get("precision") or DASH
    if env.get("precision_requested") == "auto":
        precision += " (auto)"
    bf16 = {True: "native bf16", False: "no native bf16"}.get(env.get("native_bf16"))
    capability = ", ".join(x for x in (env.get("cpu_capability") and f"CPU {env['cpu_capability']}", bf16) if x)
    device = f"{env.get('device') or DASH}: {env.get('device_name') or DASH}" + (f" ({capability})" if capability else "")
    return (f"Measured on {device}; precision {precision}; {format_figure(env.get('cpu_threads'), COUNT)} threads; "
            f"torch {env.get('torch') or DASH}, peftlab {env.get('peftlab') or DASH}.")


# --- the main results table ---------------------------------------------------------------------


def _main_header(metrics: list[str], counted: bool) -> list[str]:
    """Column names of the main table; quality metrics are appended as reported, then the empty and
    truncated counts where the results have them (results.json from before they were counted do not)."""
    return [
        "method", "trainable params", "% of model", "loss train", "loss val", "loss test",
        "peak memory MB", "time/epoch s", "tokens/s", *metrics, *(["empty", "truncated"] if counted else []),
    ]  # fmt: skip


def _counted(results: dict) -> bool:
    rows = [lookup(results, "baseline"), *methods_of(results).values()]
    return any(lookup(row, "generations") for row in rows)


def _generation_counts(row: dict) -> list[str]:
    """Empty and cut-off generations as 'k/n': a mean score hides them (see analysis)."""
    counts = lookup(row, "generations") or {}
    n = counts.get("examples")
    return [DASH if counts.get(k) is None or n is None else f"{counts[k]}/{n}" for k in ("empty", "truncated")]


def _loss_and_quality(row: dict, metrics: list[str]) -> tuple[list[str], list[str]]:
    """Loss train/val/test cells and quality cells — the columns the base model also has."""
    loss = [format_cell(row, LOSS, "loss", split) for split in ("train", "val", "test")]
    return loss, [format_cell(row, QUAL, "quality", k) for k in metrics]


def _method_row(name: str, m: dict, metrics: list[str], counted: bool) -> list[str]:
    """One method's row: cost figures from the run, then loss and quality."""
    loss, quality = _loss_and_quality(m, metrics)
    return [
        name,
        format_figure(lookup(m, "trainable_params"), COUNT),
        format_percent(lookup(m, "trainable_pct")),
        *loss,
        format_cell(m, MB, "peak_memory_mb"),
        format_cell(m, SEC, "epoch_time_s"),
        format_cell(m, TOKS, "train_tokens_per_s"),
        *quality,
        *(_generation_counts(m) if counted else []),
    ]


def _base_row(results: dict, metrics: list[str], counted: bool) -> list[str]:
    """The base model was only evaluated: cost columns are not applicable, shown as a dash."""
    base = lookup(results, "baseline") or {}
    loss, quality = _loss_and_quality(base, metrics)
    return [BASE_ROW, DASH, DASH, *loss, DASH, DASH, DASH, *quality, *(_generation_counts(base) if counted else [])]


def _results_blocks(results: dict) -> list[Block]:
    """Main table (one row per method plus the base model), with the memory figure's meaning."""
    metrics = quality_metrics(results)
    counted = _counted(results)
    seeds = lookup(results, "config", "seeds")
    rows = [_method_row(n, m, metrics, counted) for n, m in methods_of(results).items()]
    rows.append(_base_row(results, metrics, counted))
    return [
        Heading("Results"),
        Paragraph(f"Peak memory is: {lookup(results, 'memory_kind') or DASH}."),
        Table(_main_header(metrics, counted), rows),
        Paragraph(f"{DASH} = not measured or not applicable. Time/epoch is the mean over epochs."
                  + (f" Figures are the mean ± the half-width of a 95% t-interval over the seeds "
                     f"{', '.join(map(str, seeds))} (the base model is evaluated once)." if seeds else "")
                  + (" Empty: generations with no non-blank token; truncated: cut off at the token budget."
                     if counted else "")),
    ]


def _uncertainty_blocks(results: dict) -> list[Block]:
    """The bootstrap intervals over test examples, when the comparison computed them."""
    u = lookup(results, "uncertainty") or {}
    if not u.get("intervals"):
        return []
    metric = u.get("metric") or DASH

    def span(ci: Any) -> str:
        return f"[{format_figure(ci[0], QUAL)}, {format_figure(ci[1], QUAL)}]" if isinstance(ci, list) else DASH

    per_run = u.get("per_run") or {}
    seeded = any(len(runs) > 1 for runs in per_run.values())
    rows = [[name, span(ci)] + ([", ".join(span(r) for r in per_run.get(name) or []) or DASH] if seeded else [])
            for name, ci in u["intervals"].items()]
    diffs = [[f"{name} − base model", format_figure(d.get("difference"), "+.2f"), span(d.get("ci"))]
             for name, d in (u.get("vs_base") or {}).items()]
    if top := u.get("best_vs_runner_up"):
        diffs.insert(0, [f"{top['best']} − {top['runner_up']}", format_figure(top.get("difference"), "+.2f"),
                         span(top.get("ci"))])
    return [
        Heading("Uncertainty over test examples"),
        Paragraph(f"Bootstrap 95% intervals of {metric} over the {format_figure(u.get('examples'), COUNT)} test "
                  f"examples ({format_figure(u.get('resamples'), COUNT)} resamples, seed {u.get('seed')}); with "
                  "seeds, each resample scores the mean over seeds. Differences are paired: both sides on the "
                  "same resample."),
        Table(["model", f"{metric} 95% CI", *(["each seed's run"] if seeded else [])], rows),
        Table(["difference", metric, "95% CI"], diffs),
    ]


def _cost_blocks(results: dict) -> list[Block]:
    """What each method's quality cost to train: estimated FLOPs and wall time (compare writes both)."""
    methods = methods_of(results)
    if not any(lookup(m, "train_flops") is not None for m in methods.values()):
        return []
    metric = lookup(results, "primary_metric")
    rows = [[name, format_cell(m, ".3g", "train_flops"), format_cell(m, SEC, "train_time_s"),
             format_cell(m, SEC, "epoch_time_s"), format_cell(m, MB, "peak_memory_mb"),
             format_cell(m, QUAL, "quality", metric) if metric else DASH] for name, m in methods.items()]
    return [
        Heading("Cost and quality"),
        Paragraph("Training FLOPs are estimated per token as 2 per parameter forward, 4 per trained parameter "
                  "backward and 2 per frozen parameter the gradient passes through (all of them for prompt and "
                  "LoRA, none below the trained block for last-layer), times the tokens trained on; attention "
                  "scores and evaluation are not counted. Train time is the wall time of all epochs."),
        Table(["method", "train FLOPs (est.)", "train time s", "time/epoch s", "peak memory MB", metric or DASH],
              rows),
        Image("cost.png", "quality against trainable parameters, peak memory and time per epoch"),
    ]


def _stamp_blocks(results: dict) -> list[Block]:
    """How to get these figures again: the command, the study's wall time, versions and data digests."""
    stamp = lookup(results, "reproducibility") or {}
    if not stamp:
        return []
    rows = [[f"split {k}", v] for k, v in (stamp.get("splits_sha256") or {}).items()]
    rows += [[f"built-in generator {k}", v] for k, v in (stamp.get("builtin_generator_sha256") or {}).items()]
    rows += [[k, v or DASH] for k, v in (stamp.get("versions") or {}).items()]
    return [
        Heading("Reproducibility"),
        Paragraph(f"Command: `{stamp.get('command') or DASH}`. Wall time of the whole study: "
                  f"{format_figure(stamp.get('study_wall_time_s'), SEC)} s. Device, CPU capability, precision, "
                  "threads and the other versions: see Environment. Digests are sha256 of the rows as read "
                  "(the built-in generator's: its first 16 test rows, seed 0)."),
        Table(["item", "value"], rows, numeric=False),
    ]


def _search_blocks(results: dict) -> list[Block]:
    """The learning-rate grid per method, its validation losses, the chosen rate and the search's cost."""
    search = lookup(results, "lr_search") or {}
    if not search.get("methods"):
        return []
    rows = [[name, format_figure(g.get("lr"), "g"), format_figure(g.get("val_loss"), LOSS),
             format_figure(g.get("train_time_s"), SEC), "chosen" if g.get("lr") == m.get("chosen") else ""]
            for name, m in search["methods"].items() for g in m.get("grid") or []]
    return [
        Heading("Learning-rate search"),
        Paragraph(f"Each method trained at {format_figure(search.get('points'), COUNT)} log-spaced rates from a "
                  f"tenth to ten times its rate, on {format_figure(search.get('fraction'), 'g')} of the training "
                  f"examples; the lowest final validation loss chose the rate of the runs above (the test split is "
                  f"not used). The search's cost, not counted in the table: {format_figure(search.get('runs'), COUNT)}"
                  f" runs, {format_figure(search.get('train_time_s'), SEC)} s of training."),
        Table(["method", "lr", "val loss", "train s", ""], rows),
        Image("lr_search.png", "final validation loss against learning rate per method"),
    ]


# --- history, analysis, plots, configuration ----------------------------------------------------


def _epoch_row(name: str, epoch: dict) -> list[str]:
    """One epoch of one method: its number, losses and wall time."""
    return [
        name,
        format_figure(lookup(epoch, "epoch"), "g"),
        format_figure(lookup(epoch, "train_loss"), LOSS),
        format_figure(lookup(epoch, "val_loss"), LOSS),
        format_figure(lookup(epoch, "time_s"), SEC),
    ]


def _history_blocks(results: dict) -> list[Block]:
    """Every epoch of every method, so the mean time per epoch can be checked."""
    rows = [
        _epoch_row(name, epoch)
        for name, m in methods_of(results).items()
        for epoch in (lookup(m, "history") or [])
    ]
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
    return [Heading("Plots")] + [Image(file, alt) for file, alt in PLOT_ALTS.items()]


def _value_text(value: Any) -> str:
    """Config/environment values verbatim: strings as-is, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _key_value_blocks(results: dict, key: str, title: str) -> list[Block]:
    """Every key of `results[key]` in a two-column table, nothing filtered."""
    items = lookup(results, key) or {}
    if not items:
        return [Heading(title), Paragraph(DASH)]
    rows = [[str(k), _value_text(v)] for k, v in items.items()]
    return [Heading(title), Table(["key", "value"], rows, numeric=False)]


def build_document(results: dict) -> list[Block]:
    """The whole report as blocks, rendered identically to Markdown and HTML."""
    return (
        _title_blocks(results)
        + _results_blocks(results)
        + _uncertainty_blocks(results)
        + _cost_blocks(results)
        + _search_blocks(results)
        + _history_blocks(results)
        + _analysis_blocks(results)
        + _plot_blocks()
        + _key_value_blocks(results, "config", "Configuration")
        + _key_value_blocks(results, "environment", "Environment")
        + _stamp_blocks(results)
    )
