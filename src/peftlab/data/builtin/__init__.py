"""Built-in sample data sets, generated deterministically by our own code: one module per task.

Why synthetic
-------------
peftlab has to run its demo and its tests offline, on two CPU cores, with no download and no
licence question. So instead of shipping a corpus, each task has a small generator: every
example is assembled from hand-written templates and word lists. Nothing is copied from an
existing data set. The mappings are deliberately regular and noise-free, so a small LM fine-tuned
for a few minutes can learn them, and the three PEFT methods can be compared on something they can
actually improve. Each task's generator lives in its own module (`summarize`, `qa`, `translate`)
and is named by its `Task` (`peftlab.data.tasks`); this module holds what every generator shares.

Reproducibility
---------------
Each split draws from its own ``random.Random`` stream, seeded from SHA-256 of
``task/split/seed`` (never the salted ``hash()``, never the global RNG), so the same arguments
give the same rows in any process. Rows are de-duplicated on their input text, and every input
text belongs to exactly one split, chosen by a stable hash of the text (train owns 60% of the
hash space, val and test 20% each), so the splits never share an input, whatever the seeds. Rows
are produced in sequence: a smaller ``n`` is a prefix of a larger one. `tests/test_builtin_pins.py`
pins a hash of every split, so a changed word list cannot silently change the README's figures.
"""

from __future__ import annotations

import hashlib
import random
from typing import Callable

from peftlab.errors import UsageError

Row = dict[str, str]
Facts = dict[str, str]
RowMaker = Callable[[random.Random], Row]

SPLITS: tuple[str, ...] = ("train", "val", "test")
BUILTIN_SIZES: dict[str, int] = {"train": 600, "val": 80, "test": 80}

# Share of the input space owned by each split (train is large, so it gets most: fewer rejects).
_SPLIT_SLOTS: tuple[str, ...] = ("train",) * 6 + ("val",) * 2 + ("test",) * 2
_TRIES_PER_ROW = 40  # candidates drawn per wanted row before giving up (2 to 5 are needed)


def generate_split(task: str, make_row: RowMaker, key: str, split: str, n: int | None = None,
                   seed: int = 0) -> list[Row]:
    """`n` distinct rows of `task`'s `split` (n=None -> BUILTIN_SIZES[split]) from `make_row`.

    `key` is the field holding the input text, which must be unique and belong to `split` alone.
    Raises UsageError on an unknown split, n <= 0, or a generator that cannot make n distinct rows.
    """
    size = _check_args(split, n)
    rng = random.Random(_stream_seed(task, split, seed))
    rows: list[Row] = []
    seen: set[str] = set()
    for _ in range(size * _TRIES_PER_ROW + 1000):
        row = make_row(rng)
        text = row[key]
        if text in seen or _split_of(text) != split:
            continue
        seen.add(text)
        rows.append(row)
        if len(rows) == size:
            return rows
    raise UsageError(
        f"could only make {len(rows)} distinct {task}/{split} rows, not {size}; ask for fewer rows (n)"
    )


def _check_args(split: str, n: int | None) -> int:
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; use one of: {', '.join(SPLITS)}")
    if n is None:
        return BUILTIN_SIZES[split]
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise UsageError(f"n must be a positive integer, got {n!r}; pass n >= 1 (or None for the default)")
    return n


def _stream_seed(task: str, split: str, seed: int) -> int:
    digest = hashlib.sha256(f"peftlab-samples/{task}/{split}/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _split_of(text: str) -> str:
    """The one split an input text may appear in, from a stable hash of it (not the salted hash())."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    slot = int.from_bytes(digest, "big") % len(_SPLIT_SLOTS)
    return _SPLIT_SLOTS[slot]
