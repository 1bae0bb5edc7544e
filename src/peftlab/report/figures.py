"""Reading figures out of a `results.json` dict, and writing them as text.

The tables, the analysis sentences and the plot labels all go through these few functions, so a
missing figure is treated the same everywhere (an em dash, never a guess) and a number reads the
same wherever it appears.
"""

from __future__ import annotations

import math
from typing import Any

DASH = "—"

# One format per kind of figure, used by the tables, the sentences and the plot labels alike, so a
# number reads the same everywhere it appears.
LOSS, MB, SEC, TOKS, QUAL, COUNT = ".3f", ".1f", ".1f", ",.0f", ".2f", ","


# --- reading the results dict -------------------------------------------------------------------


def lookup(data: Any, *keys: str) -> Any:
    """Walk nested dicts; None when any level is missing, so absent steps never raise."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def finite_number(value: Any) -> float | None:
    """A finite number or None: NaN/inf cannot be ranked, so analysis treats them as missing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None  # ints stay ints: counts print without ".0"


def methods_of(results: dict) -> dict[str, dict]:
    """Method name -> its figures, in the order the run produced them (None -> empty)."""
    return {name: (m or {}) for name, m in (lookup(results, "methods") or {}).items()}


def method_figures(results: dict, *keys: str) -> list[tuple[str, float]]:
    """(method, value) for every method that has a finite value at `keys`."""
    pairs = [(name, finite_number(lookup(m, *keys))) for name, m in methods_of(results).items()]
    return [(name, v) for name, v in pairs if v is not None]


def quality_metrics(results: dict) -> list[str]:
    """Every quality metric reported by the base model or any method, first-seen order."""
    seen: dict[str, None] = {}
    for q in [lookup(results, "baseline", "quality")] + [
        lookup(m, "quality") for m in methods_of(results).values()
    ]:
        seen.update(dict.fromkeys(q or {}))
    return list(seen)


# --- writing figures as text --------------------------------------------------------------------


def format_figure(value: Any, spec: str) -> str:
    """Format a figure with `spec`, or an em dash when it is missing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return DASH
    return format(value, spec)


def format_cell(row: dict, spec: str, *keys: str) -> str:
    """The figure at `keys` of a method's row, as 'mean ± half-width' where the row holds a 95% interval
    over seeds at the same place under "ci" (compare --seeds), else as the figure alone."""
    text = format_figure(lookup(row, *keys), spec)
    half = finite_number(lookup(row, "ci", *keys))
    return text if text == DASH or half is None else f"{text} ± {format(half, spec)}"


def format_percent(value: Any) -> str:
    """Percent with 3 significant digits: prompt tuning is ~0.002%, last layer several %."""
    text = format_figure(value, ".3g")
    return text if text == DASH else text + "%"


def format_ratio(ratio: float) -> str:
    """Ratios read as '1.49×' near one and '1,234×' when far apart."""
    if ratio < 10:
        return f"{ratio:.2f}×"
    return f"{ratio:.1f}×" if ratio < 100 else f"{ratio:,.0f}×"


def join_names(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c' — ties are named together, never broken arbitrarily."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
