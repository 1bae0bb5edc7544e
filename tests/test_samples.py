"""Tests for the built-in synthetic sample data (peftlab.data.builtin, one generator per task)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter

import pytest

from peftlab.data.builtin import BUILTIN_SIZES, translate
from peftlab.data.builtin import translate_lexicon as lexicon
from peftlab.data.tasks import builtin_split
from peftlab.errors import UsageError

TASKS = ("summarize", "qa", "translate")
SPLITS = ("train", "val", "test")
FIELDS = {
    "summarize": {"article", "summary"},
    "qa": {"context", "question", "answer"},
    "translate": {"source", "target"},
}
INPUT = {"summarize": "article", "qa": "context", "translate": "source"}
CYRILLIC = re.compile(r"[\u0400-\u04FF]")


@pytest.fixture(scope="module")
def big() -> dict[str, list[dict[str, str]]]:
    return {task: builtin_split(task, "train", 1000) for task in TASKS}


def _digest(rows: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


# --- API, sizes, errors ------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("split", SPLITS)
def test_default_sizes_and_fields(task: str, split: str) -> None:
    rows = builtin_split(task, split)
    assert len(rows) == BUILTIN_SIZES[split]
    for row in rows:
        assert set(row) == FIELDS[task]
        for value in row.values():
            assert isinstance(value, str) and value.strip() == value and value


@pytest.mark.parametrize("task", TASKS)
def test_large_n_is_honoured_and_unique(task: str) -> None:
    rows = builtin_split(task, "train", 3000)
    assert len(rows) == 3000
    assert len({row[INPUT[task]] for row in rows}) == 3000


@pytest.mark.parametrize("task", TASKS)
def test_5000_rows_are_quick(task: str) -> None:
    start = time.process_time()
    builtin_split(task, "train", 5000, seed=3)
    assert time.process_time() - start < 2.0  # about 0.1-0.3 s on a laptop core


@pytest.mark.parametrize(
    ("task", "split", "n", "hint"),
    [
        ("summarise", "train", None, "summarize"),
        ("", "train", None, "qa"),
        ("qa", "dev", None, "val"),
        ("qa", "TRAIN", None, "train"),
        ("qa", "train", 0, "n"),
        ("qa", "train", -5, "n"),
        ("qa", "train", 2.5, "n"),
        ("qa", "train", "10", "n"),
        ("qa", "train", True, "n"),
    ],
)
def test_bad_arguments_raise_usage_error(task: str, split: str, n: object, hint: str) -> None:
    with pytest.raises(UsageError) as info:
        builtin_split(task, split, n)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and hint in message


# --- determinism and splits --------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_deterministic_and_seed_dependent(task: str) -> None:
    first = builtin_split(task, "val", 50, seed=11)
    assert first == builtin_split(task, "val", 50, seed=11)
    assert first != builtin_split(task, "val", 50, seed=12)
    assert builtin_split(task, "val", 20, seed=11) == first[:20]


def test_same_rows_in_another_process_with_another_hash_seed() -> None:
    here = {task: _digest(builtin_split(task, "test", 40, seed=5)) for task in TASKS}
    code = (
        "import json, hashlib\n"
        "from peftlab.data.tasks import builtin_split\n"
        "d = lambda r: hashlib.sha256(json.dumps(r, ensure_ascii=False, sort_keys=True).encode()).hexdigest()\n"
        f"print(json.dumps({{t: d(builtin_split(t, 'test', 40, seed=5)) for t in {TASKS!r}}}))\n"
    )
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == here


def test_global_random_state_is_untouched() -> None:
    random.seed(1234)
    expected = random.random()
    random.seed(1234)
    builtin_split("translate", "train", 30)
    assert random.random() == expected


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("seed", [0, 7])
def test_splits_are_disjoint(task: str, seed: int) -> None:
    key = INPUT[task]
    inputs = {split: {row[key] for row in builtin_split(task, split, 400, seed=seed)} for split in SPLITS}
    assert not inputs["train"] & inputs["val"]
    assert not inputs["train"] & inputs["test"]
    assert not inputs["val"] & inputs["test"]


def test_splits_are_disjoint_across_seeds_too() -> None:
    train = {row["source"] for row in builtin_split("translate", "train", 600, seed=1)}
    test = {row["source"] for row in builtin_split("translate", "test", 600, seed=2)}
    assert not train & test


# --- content checks ----------------------------------------------------------------------------


def test_qa_answers_are_short_spans_of_the_context(big: dict[str, list[dict[str, str]]]) -> None:
    for row in big["qa"]:
        assert row["answer"] in row["context"], row
        assert 1 <= len(row["answer"].split()) <= 5
        assert row["question"].endswith("?")
        assert 3 <= len(re.findall(r"[.!?](?:\s|$)", row["context"])) <= 6


def test_qa_asks_several_kinds_of_question(big: dict[str, list[dict[str, str]]]) -> None:
    starts = Counter(row["question"].split()[0] for row in big["qa"])
    assert {"Who", "What", "Where", "When", "How", "Which"} <= set(starts)
    assert any(row["question"].startswith("How many") for row in big["qa"])
    assert max(starts.values()) < 0.4 * len(big["qa"])


def test_translate_is_bulgarian_to_english(big: dict[str, list[dict[str, str]]]) -> None:
    for row in big["translate"]:
        assert CYRILLIC.search(row["source"]), row
        assert not CYRILLIC.search(row["target"]), row
        assert row["target"].isascii()
        assert row["source"][-1] == row["target"][-1] and row["source"][-1] in ".?"
        assert 3 <= len(row["source"].split()) <= 15
        assert row["source"][0].isupper() and row["target"][0].isupper()


def test_translate_mixes_statements_questions_and_negations(big: dict[str, list[dict[str, str]]]) -> None:
    rows = big["translate"]
    questions = sum(row["target"].endswith("?") for row in rows)
    negations = sum(" не " in row["source"] for row in rows)
    past = sum(row["target"].startswith("Did ") or " did not " in row["target"] for row in rows)
    assert 0.15 * len(rows) < questions < 0.5 * len(rows)
    assert negations > 0.05 * len(rows)
    assert past > 0.03 * len(rows)


def test_summaries_are_one_sentence_built_from_the_article(big: dict[str, list[dict[str, str]]]) -> None:
    for row in big["summarize"]:
        article, summary = row["article"], row["summary"]
        assert 60 <= len(article.split()) <= 140
        assert 4 <= len(re.findall(r"[.!?](?:\s|$)", article)) <= 7
        assert 10 <= len(summary.split()) <= 30
        assert summary.endswith(".") and ". " not in summary
        assert not article.startswith(summary)
        for number in re.findall(r"\d[\d,.]*\d|\d", summary):
            assert number in article, (number, row)


def test_summaries_cover_many_topics(big: dict[str, list[dict[str, str]]]) -> None:
    markers = {
        "council": "council", "weather": "Forecasters|snow|rain|storm|heatwave", "sport": " beat ",
        "business": "invest|profit", "science": "University of", "health": "patients",
        "culture": "Festival|exhibition", "transport": "bus|tram", "environment": "trees",
        "education": "pupils",
    }
    summaries = [row["summary"] for row in big["summarize"]]
    for topic, pattern in markers.items():
        assert sum(bool(re.search(pattern, s)) for s in summaries) >= 20, topic


@pytest.mark.parametrize("task", TASKS)
def test_outputs_are_varied(task: str, big: dict[str, list[dict[str, str]]]) -> None:
    rows = big[task]
    for field in FIELDS[task] - {"answer"}:
        assert len({row[field] for row in rows}) > 0.9 * len(rows), field
    vocabulary = {word for row in rows for word in row[INPUT[task]].split()}
    assert len(vocabulary) > 400


# --- Bulgarian grammar of the translate lexicon -------------------------------------------------


def _verb(key: str) -> lexicon._Verb:
    return next(v for v in lexicon._VERBS if v.key == key)


@pytest.mark.parametrize(
    ("key", "present", "aorist"),
    [
        ("read", ["чета", "четеш", "чете", "четем", "четете", "четат"],
         ["прочетох", "прочете", "прочете", "прочетохме", "прочетохте", "прочетоха"]),
        ("buy", ["купувам", "купуваш", "купува", "купуваме", "купувате", "купуват"],
         ["купих", "купи", "купи", "купихме", "купихте", "купиха"]),
        ("eat", ["ям", "ядеш", "яде", "ядем", "ядете", "ядат"],
         ["изядох", "изяде", "изяде", "изядохме", "изядохте", "изядоха"]),
        ("carry", ["нося", "носиш", "носи", "носим", "носите", "носят"],
         ["донесох", "донесе", "донесе", "донесохме", "донесохте", "донесоха"]),
    ],
)
def test_verb_conjugation(key: str, present: list[str], aorist: list[str]) -> None:
    verb = _verb(key)
    assert [verb.bg(p, past=False) for p in lexicon._PERSONS] == present
    assert [verb.bg(p, past=True) for p in lexicon._PERSONS] == aorist


def test_noun_articles_and_count_forms() -> None:
    nouns = {n.bg: n for n in lexicon._NOUNS}
    assert nouns["стол"].definite() == "стола" and nouns["стол"].definite(subject=True) == "столът"
    assert nouns["музей"].definite(subject=True) == "музеят"
    assert nouns["книга"].definite() == "книгата" and nouns["писмо"].definite() == "писмото"
    assert nouns["книга"].definite(plural=True) == "книгите" and nouns["писмо"].definite(plural=True) == "писмата"
    assert nouns["стол"].counted() == "стола" and nouns["ябълка"].counted() == "ябълки"
    new = lexicon._ADJS["new"]
    assert [new.definite(g) for g in ("m", "f", "n", "pl")] == ["новия", "новата", "новото", "новите"]
    phrase = translate._noun_phrase(nouns["чадър"], lexicon._ADJS["old"], definite=False, plural=False)
    assert phrase == ("стар чадър", "an old umbrella")


def test_lexicon_is_large_enough() -> None:
    entries = (
        len(lexicon._VERBS) + len(lexicon._NOUNS) + len(lexicon._ADJS) + len(lexicon._PERSON_ADJS)
        + len(lexicon._NOUN_SUBJECTS) + len(lexicon._PRONOUNS) + len(lexicon._PLACES)
        + len(lexicon._PRESENT_TIMES) + len(lexicon._PAST_TIMES) + len(lexicon._NUMBERS)
    )
    assert entries >= 150
