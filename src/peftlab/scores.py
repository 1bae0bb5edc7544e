"""Quality scores: ROUGE (summaries), SQuAD EM/F1 (extractive answers), BLEU/chrF (translations).

Every score is on a 0-100 scale so that the report can put them side by side with the base model.
We delegate to the reference implementations (`rouge_score`, `sacrebleu`) wherever one exists, so
our numbers equal what a reader gets by calling those libraries directly; only the SQuAD v1.1
metric is re-implemented, because its official form is a standalone script, not a package.
Which task uses which score is part of the task (`peftlab.data.tasks.Task.metric`); `Task.score`
checks the inputs with `check_pairs` first.

Empty input raises `ValueError`: a mean over zero examples is undefined, and returning 0.0 would
put an invented figure in the report that reads like "the model scored zero".
(Named `scores`, not `metrics`, because `metrics.json` in a run directory holds every figure.)
"""

from __future__ import annotations

import re
import string
from collections import Counter

_ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_PUNCTUATION = frozenset(string.punctuation)


def check_pairs(predictions: list[str], references: list[str]) -> None:
    """Refuse inputs that cannot give an honest score (see module docstring for why)."""
    if len(predictions) != len(references):
        raise ValueError(
            f"{len(predictions)} predictions but {len(references)} references: "
            "each prediction needs exactly one reference"
        )
    if not predictions:
        raise ValueError("no examples to score: a mean over zero examples is undefined")


def rouge(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measure x100, Porter stemming on (the common setting for summaries)."""
    return mean_scores(rouge_examples(predictions, references))


def rouge_examples(predictions: list[str], references: list[str]) -> list[dict[str, float]]:
    """ROUGE-1/2/L F-measure x100 of each example (the bootstrap over examples resamples these)."""
    from rouge_score import rouge_scorer  # imported on use: loading it costs NLTK's start-up

    scorer = rouge_scorer.RougeScorer(list(_ROUGE_TYPES), use_stemmer=True)
    out = []
    for pred, ref in zip(predictions, references):
        scores = scorer.score(ref, pred)  # rouge_score's order is (target, prediction)
        out.append({name: 100.0 * scores[name].fmeasure for name in _ROUGE_TYPES})
    return out


def mean_scores(per_example: list[dict[str, float]]) -> dict[str, float]:
    """The corpus figure of a metric that is a mean over examples."""
    return {name: sum(s[name] for s in per_example) / len(per_example) for name in per_example[0]}


# --- SQuAD v1.1 ---------------------------------------------------------------------------------
# Transcribed from the official evaluation script `evaluate-v1.1.py`
# (https://rajpurkar.github.io/SQuAD-explorer/, Rajpurkar et al. 2016): `normalize_answer`,
# `f1_score` and `exact_match_score`. With one reference per example the script's max over
# ground truths is the single score. As in v1.1 (unlike v2.0), an empty normalised answer scores
# F1 = 0 even against an empty reference.


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, drop articles a/an/the, collapse whitespace (SQuAD v1.1)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_f1(prediction: str, reference: str) -> float:
    """Token-overlap F1 (0-1) between normalised answers, multiset overlap as in SQuAD v1.1."""
    pred_tokens = normalize_answer(prediction).split()
    ref_tokens = normalize_answer(reference).split()
    num_same = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_exact_match(prediction: str, reference: str) -> float:
    """1.0 when the normalised answers are identical, else 0.0 (SQuAD v1.1)."""
    return float(normalize_answer(prediction) == normalize_answer(reference))


def squad(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Mean exact match and F1 x100 over examples, as the SQuAD v1.1 script reports them."""
    return mean_scores(squad_examples(predictions, references))


def squad_examples(predictions: list[str], references: list[str]) -> list[dict[str, float]]:
    """Exact match and F1 x100 of each example."""
    return [{"exact_match": 100.0 * squad_exact_match(p, r), "f1": 100.0 * squad_f1(p, r)}
            for p, r in zip(predictions, references)]


def translation(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU and chrF from sacrebleu with its default (WMT-standard) settings. Not a mean over
    examples: its bootstrap recomputes the corpus figure on each resample, as sacrebleu's does."""
    import sacrebleu  # imported on use, like rouge_score

    return {
        "bleu": sacrebleu.corpus_bleu(predictions, [references]).score,
        "chrf": sacrebleu.corpus_chrf(predictions, [references]).score,
    }
