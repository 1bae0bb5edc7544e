"""summarize: short news articles with a one-sentence summary (one story kind per kind of news)."""

from __future__ import annotations

import random
from typing import Callable

from . import Facts, Row
from .news import _Story, _fill, _write_article
from .news_local import _council, _school, _transport, _trees, _weather
from .news_world import (
    _basketball, _exhibition, _festival, _football, _health, _investment, _results, _science,
)


def summarize_row(rng: random.Random) -> Row:
    story, facts = rng.choice(_SUMMARY_MAKERS)(rng)
    return {"article": _write_article(rng, story, facts), "summary": _fill(story.summary, facts)}


_SUMMARY_MAKERS: tuple[Callable[[random.Random], tuple[_Story, Facts]], ...] = (
    _council, _weather, _football, _basketball, _investment, _results, _science, _health,
    _festival, _exhibition, _transport, _trees, _school,
)
