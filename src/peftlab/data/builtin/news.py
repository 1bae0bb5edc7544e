"""How a summarize example is written: a story kind's templates filled from random facts.

An article is a lead (sometimes after a scene-setting opener), the sentences the summary relies on,
and a few colour sentences, within fixed length limits; the summary is one sentence from the
story's fixed template that restates the key facts with the article's own words.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import Facts
from .english import _cap


@dataclass(frozen=True)
class _Story:
    """Templates for one kind of news story; all are filled from the same facts."""

    leads: tuple[str, ...]  # one is used; each states the key fact
    required: tuple[str, ...]  # always used: they carry the facts the summary needs
    optional: tuple[str, ...]  # colour (quotes, background): some are used
    summary: str  # one sentence restating the key facts in a fixed pattern
    openers: tuple[str, ...] = ()  # scene-setting first sentences, used now and then


_MIN_WORDS, _MAX_WORDS = 60, 140
_MIN_SENTENCES, _MAX_SENTENCES = 4, 7


def _write_article(rng: random.Random, story: _Story, facts: Facts) -> str:
    """Opener?, lead, the required sentences, then optional ones, within the length limits."""
    head = [rng.choice(story.leads)]
    if story.openers and rng.random() < 0.3:
        head.insert(0, rng.choice(story.openers))
    head = [_fill(t, facts) for t in head]
    body = [_fill(t, facts) for t in story.required]
    words = sum(len(s.split()) for s in head + body)
    count = sum(s.count(". ") + 1 for s in head + body)
    target = rng.randint(_MIN_SENTENCES, _MAX_SENTENCES)
    picked: list[int] = []
    for index in rng.sample(range(len(story.optional)), len(story.optional)):
        if (count >= target and words >= _MIN_WORDS) or count >= _MAX_SENTENCES:
            break
        size = len(_fill(story.optional[index], facts).split())
        if words + size > _MAX_WORDS:
            break
        picked.append(index)
        words, count = words + size, count + 1
    # Optional sentences keep their template order, which reads naturally (names before quotes).
    body += [_fill(story.optional[i], facts) for i in sorted(picked)]
    return " ".join(head + body)


def _fill(template: str, facts: Facts) -> str:
    return _cap(template.format(**facts))
