"""Pins of the built-in data: a changed word list or template must not silently change every figure.

The digests were computed on the code before the split into `data/builtin/` (commit b9bbf6b). If a
generator change is intended, it changes the README's figures too: rerun the demo, update the
README, then update these digests in the same commit.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from peftlab.data.tasks import builtin_split, get_task

SPLIT_DIGESTS: dict[tuple[str, str, int | None], str] = {
    ("summarize", "train", None): "b721f11a67c52361201da753e39ac03ccb5466aefa3cedbb94c5c48dc2260591",
    ("summarize", "train", 64): "81dcc7c9f5cca9f8430f672be0a209a57f0ac3eab5a880b4ca41f89b641159ef",
    ("summarize", "val", None): "91e6f46ea67788ede16cc580fc9d81bd32a53e93a6ba3ae358895d740004cf04",
    ("summarize", "val", 16): "f280855a3c28f247eef1dce57f6a7536006bf1e698448eb9c7d945f71d3ed524",
    ("summarize", "test", None): "1bf8030cc9f98fa349f633efd3a2016a4cebf2972a02b4377997f431b4de03b0",
    ("summarize", "test", 16): "96714f00715cde7a6253bd0106ff08f683f9e396e077248665aaede8a126bb03",
    ("qa", "train", None): "093b6ffe55814b526cc7111400ddb36b9ffd249f58dfafc3d60a89b42b4e85d5",
    ("qa", "train", 64): "117e2b62483d5cbbde82a3f4f0ba4a11e6810b276c79f2bbb0a5257204a42db6",
    ("qa", "val", None): "ba6898ec22a3500eceda8fc4a15063def51c3290740c57b25d308085aef74026",
    ("qa", "val", 16): "b1841767e711a4e8c5defe119eb829ef8416e3ac3829b08f5316c75f494fb91f",
    ("qa", "test", None): "22af41bc89df28fac626c4f65dd34bed4e8d99614abcbcecad01e562af4770f5",
    ("qa", "test", 16): "4135941407b75fc882880da63364be61c01e533e029c5c5d24bd9bcd857b02ce",
    ("translate", "train", None): "3913b3eda414081273fc4165259587fe05ee7123ea917c15f77090366c6e9e47",
    ("translate", "train", 64): "0d17142e0a5400122e41b1f5ead4645c0c636511dc6efba55e7ce107e9368671",
    ("translate", "val", None): "d7a126779d560d5dcc42c8b26755bd25ad9b5e11c0e45c1ece5e79f07caf9a7d",
    ("translate", "val", 16): "9eca4c0ac70a5eab55b36e44ab3c0d69cd68888ba0dacea87657326f53b416e2",
    ("translate", "test", None): "01dd107a51cb09844998fde3dea33555e53162d5cc73acde85aebf6fb3695a91",
    ("translate", "test", 16): "f6b6778728881b22e9496ed9bb0327f0cd4ab90afa2fed3fa5f876a973698a39",
}

# sha256 of [[render(row), target_text(row)] for the first 16 test rows]: the prompts stay the same.
PROMPT_DIGESTS: dict[str, str] = {
    "summarize": "e6f9032b60445c65f7ccaa4478a536f4a26778762b4de33c62ba4a95eee17ffc",
    "qa": "26879d10d77c3ea7a4eb5de6fb68176fd33ca137fe6517984e8fec3990277e12",
    "translate": "a8c2f763a80ac0a89cfb7cbc480401d12a14ad1de5edf31bfa363bbe3034efb1",
}


def _sha256(value: object) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize(("task", "split", "n"), list(SPLIT_DIGESTS))
def test_builtin_split_is_pinned(task: str, split: str, n: int | None) -> None:
    assert _sha256(builtin_split(task, split, n)) == SPLIT_DIGESTS[task, split, n]


@pytest.mark.parametrize("task", list(PROMPT_DIGESTS))
def test_prompts_are_pinned(task: str) -> None:
    spec = get_task(task)
    rows = builtin_split(task, "test", 16)
    pairs = [[list(spec.render(row)), spec.target_text(row)] for row in rows]
    assert hashlib.sha256(json.dumps(pairs, ensure_ascii=False).encode()).hexdigest() == PROMPT_DIGESTS[task]
