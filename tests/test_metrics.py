"""Metrics: hand-worked cases (arithmetic in the comments) and agreement with the libraries."""

from __future__ import annotations

import math

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from peftlab.data.tasks import TASK_REGISTRY, get_task
from peftlab.errors import UsageError
from peftlab.scores import normalize_answer, squad_exact_match, squad_f1


def quality(task: str, predictions: list[str], references: list[str]) -> dict[str, float]:
    return get_task(task).score(predictions, references)


def test_each_task_reports_its_metric_names_and_primary_metric():
    for task in TASK_REGISTRY.values():
        scores = quality(task.name, ["a b c d e"], ["a b c d e"])
        assert tuple(scores) == task.metric_names and task.primary_metric in scores


# --- qa: SQuAD v1.1 -----------------------------------------------------------------------------


def test_normalize_answer_follows_squad_v11():
    # lower-case, punctuation removed, articles removed, whitespace collapsed
    assert normalize_answer("  The Cat, an  Apple & A dog! ") == "cat apple dog"
    # articles only as whole words: "theory"/"another" keep their letters
    assert normalize_answer("theory another") == "theory another"


def test_squad_f1_by_hand():
    # pred "the cat sat"    -> normalised tokens [cat, sat]          (2 tokens)
    # ref  "a cat sat down" -> normalised tokens [cat, sat, down]    (3 tokens)
    # overlap = {cat, sat} = 2;  precision = 2/2 = 1;  recall = 2/3
    # F1 = 2*P*R/(P+R) = 2*(2/3)/(5/3) = 4/5 = 0.8
    assert squad_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)
    assert squad_exact_match("the cat sat", "a cat sat down") == 0.0


def test_squad_f1_counts_repeated_tokens_as_a_multiset():
    # pred [paris, paris] vs ref [paris]: overlap = min(2, 1) = 1
    # P = 1/2, R = 1/1  ->  F1 = 2*(1/2)*1/(3/2) = 2/3
    assert squad_f1("Paris Paris", "Paris") == pytest.approx(2 / 3)


def test_squad_no_overlap_and_empty_answers_score_zero():
    assert squad_f1("London", "Paris") == 0.0
    # v1.1 returns 0 when nothing overlaps, also for two empty answers (v2.0 would give 1)
    assert squad_f1("", "") == 0.0
    assert squad_exact_match("The.", "the") == 1.0  # both normalise to ""


def test_qa_quality_is_mean_over_examples_times_100():
    # example 1: F1 0.8, EM 0 (worked above)
    # example 2: "The Eiffel Tower." vs "eiffel tower" -> identical after normalising: F1 1, EM 1
    # mean F1 = (0.8 + 1)/2 = 0.9 -> 90;  mean EM = (0 + 1)/2 = 0.5 -> 50
    scores = quality("qa", ["the cat sat", "The Eiffel Tower."], ["a cat sat down", "eiffel tower"])
    assert scores == {"exact_match": pytest.approx(50.0), "f1": pytest.approx(90.0)}


def test_qa_identical_strings_score_100():
    assert quality("qa", ["Sofia", "in 1879"], ["Sofia", "in 1879"]) == {
        "exact_match": 100.0,
        "f1": 100.0,
    }


# --- summarize: ROUGE ---------------------------------------------------------------------------


def test_rouge_by_hand():
    # pred "the cat sat on the mat" -> [the, cat, sat, on, the, mat]   (6 unigrams, 5 bigrams)
    # ref  "the cat is on the mat"  -> [the, cat, is, on, the, mat]    (6 unigrams, 5 bigrams)
    # ROUGE-1: overlap the x2, cat, on, mat = 5 -> P = R = 5/6 -> F = 5/6 = 83.33
    # ROUGE-2: pred bigrams {the cat, cat sat, sat on, on the, the mat}
    #          ref  bigrams {the cat, cat is, is on, on the, the mat} -> overlap 3 -> F = 3/5 = 60
    # ROUGE-L: LCS = "the cat on the mat" = 5 -> P = R = 5/6 -> F = 83.33
    scores = quality("summarize", ["the cat sat on the mat"], ["the cat is on the mat"])
    assert scores["rouge1"] == pytest.approx(100 * 5 / 6)
    assert scores["rouge2"] == pytest.approx(60.0)
    assert scores["rougeL"] == pytest.approx(100 * 5 / 6)


def test_rouge_is_mean_over_examples():
    # example 1 worked above (rouge1 = 5/6); example 2 identical (rouge1 = 1)
    # mean = (5/6 + 1)/2 = 11/12 -> 91.67
    scores = quality(
        "summarize",
        ["the cat sat on the mat", "dogs bark"],
        ["the cat is on the mat", "dogs bark"],
    )
    assert scores["rouge1"] == pytest.approx(100 * 11 / 12)


def test_rouge_equals_library_and_uses_stemmer():
    preds = ["The parliament adopted new laws on taxes.", "Rain is expected tomorrow."]
    refs = ["Parliament adopts a new tax law.", "Tomorrow it will rain heavily."]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    expected = {
        k: 100 * sum(scorer.score(r, p)[k].fmeasure for p, r in zip(preds, refs)) / 2
        for k in ("rouge1", "rouge2", "rougeL")
    }
    assert quality("summarize", preds, refs) == pytest.approx(expected)
    # stemming: "laws" ~ "law", "adopted" ~ "adopts" count as matches
    assert quality("summarize", ["laws adopted"], ["law adopts"])["rouge1"] == pytest.approx(100)


def test_rouge_identical_strings_score_100():
    scores = quality("summarize", ["A short summary here."], ["A short summary here."])
    assert scores == {"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}


# --- translate: sacrebleu -----------------------------------------------------------------------


def test_bleu_by_hand():
    # pred "the cat sat on the mat" (6 tokens) vs ref "the cat sat on the red mat" (7 tokens)
    # p1 = 6/6; p2 = 4/5 (the cat, cat sat, sat on, on the); p3 = 3/4; p4 = 2/3
    # geometric mean = (1 * 0.8 * 0.75 * 2/3) ** (1/4) = 0.4 ** 0.25
    # brevity penalty = exp(1 - 7/6) = exp(-1/6)
    # BLEU = 100 * 0.4**0.25 * exp(-1/6) = 67.318...
    scores = quality("translate", ["the cat sat on the mat"], ["the cat sat on the red mat"])
    assert scores["bleu"] == pytest.approx(100 * 0.4**0.25 * math.exp(-1 / 6))


def test_translation_equals_library():
    preds = ["The weather is nice today.", "I would like a coffee, please."]
    refs = ["Today the weather is good.", "I would like one coffee, please."]
    scores = quality("translate", preds, refs)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(preds, [refs]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(preds, [refs]).score)


def test_translation_identical_strings_score_100():
    sents = ["The weather is very nice today.", "I would like a cup of coffee."]
    assert quality("translate", sents, sents) == pytest.approx({"bleu": 100.0, "chrf": 100.0})


# --- bad input ----------------------------------------------------------------------------------


def test_unknown_task_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown task 'poetry'"):
        quality("poetry", ["x"], ["x"])


def test_length_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        quality("qa", ["a", "b"], ["a"])


@pytest.mark.parametrize("task", sorted(TASK_REGISTRY))
def test_empty_input_raises_rather_than_inventing_a_zero(task):
    with pytest.raises(ValueError, match="no examples"):
        quality(task, [], [])
