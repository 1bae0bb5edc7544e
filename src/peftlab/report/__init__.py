"""Render a side-by-side comparison of the fine-tuning methods from a `results.json` dict.

The report is built once as a small list of blocks (heading, paragraph, table, bullets, image) and
rendered twice, to Markdown and to self-contained HTML, so the two can never disagree. Every figure
in either comes from the results dict: a missing or None figure is shown as an em dash, and an
analysis sentence that would need it is left out rather than guessed.

One concern per module, read top-down:
  figures.py   reading figures out of the results dict and formatting them as text
  analysis.py  the analysis sentences computed from the figures
  document.py  the blocks and the whole document (tables, setup text, analysis, plot references)
  render.py    the blocks as Markdown and as HTML
  plots.py     the five PNG charts
"""

from __future__ import annotations

from pathlib import Path

from .analysis import analysis_sentences
from .document import BASE_ROW, PLOT_FILES, UNTRAINED_NOTE, Block, build_document
from .figures import DASH
from .plots import render_plots
from .render import render_html, render_markdown

__all__ = [
    "BASE_ROW",
    "DASH",
    "PLOT_FILES",
    "UNTRAINED_NOTE",
    "Block",
    "analysis_sentences",
    "build_document",
    "render_html",
    "render_markdown",
    "render_plots",
    "render_report",
]


def render_report(results: dict, out_dir: Path) -> dict[str, Path]:
    """Write report.md, report.html and the five plots into `out_dir`; returns name -> path.

    The plots are written first because the HTML embeds their bytes, so the page stands alone.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = render_plots(results, out_dir)
    blocks = build_document(results)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(render_markdown(blocks), encoding="utf-8")
    images = {name: path.read_bytes() for name, path in plots.items()}
    html_path.write_text(render_html(blocks, images), encoding="utf-8")
    return {"report.md": md_path, "report.html": html_path, **plots}
