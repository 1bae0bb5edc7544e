"""Intervals: the t quantile against table values, the mean ± half-width, the bootstrap on a
hand-worked case, leaf-by-leaf aggregation over seeds, and analysis sentences that follow the
intervals (fixed results dicts)."""

from __future__ import annotations

import json

import pytest

from peftlab.comparison_study import command_line, example_uncertainty, parse_seeds, seed_record, training_flops
from peftlab.config import CompareConfig
from peftlab.data.tasks import get_task
from peftlab.errors import UsageError
from peftlab.report import analysis_sentences
from peftlab.stats import aggregate, bootstrap_ci, bootstrap_indices, mean_ci, mean_of, percentile, t_quantile_975


@pytest.mark.parametrize("df, table", [(1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (30, 2.042),
                                       (40, 2.021), (60, 2.000), (120, 1.980), (10**6, 1.960)])
def test_t_quantile_matches_the_table(df, table):
    assert t_quantile_975(df) == pytest.approx(table, abs=6e-4)


def test_mean_ci_by_hand():
    mean, half = mean_ci([1.0, 2.0, 3.0])  # sd 1, n 3, t(2) 4.3027
    assert mean == 2.0 and half == pytest.approx(4.3026527 / 3 ** 0.5)
    assert mean_ci([5.0]) == (5.0, None)


def test_bootstrap_is_deterministic_and_matches_a_hand_worked_case():
    # Random(0) draws these index pairs; the resample means of scores [0, 100] are 100, 50, 100, 100.
    assert bootstrap_indices(2, 4, seed=0) == [[1, 1], [0, 1], [1, 1], [1, 1]]
    # sorted [50, 100, 100, 100]: 2.5% at position 0.075 -> 50 + 0.075 * 50; 97.5% at 2.925 -> 100
    assert bootstrap_ci(mean_of([0.0, 100.0]), 2, resamples=4, seed=0) == (53.75, 100.0)
    scores = [3.0, 9.0, 1.0, 7.0, 4.0]
    first = bootstrap_ci(mean_of(scores), 5, seed=11)
    assert first == bootstrap_ci(mean_of(scores), 5, seed=11) and first != bootstrap_ci(mean_of(scores), 5, seed=12)
    assert bootstrap_ci(mean_of([4.0] * 6), 6) == (4.0, 4.0)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


def test_aggregate_over_seeds_leaf_by_leaf():
    runs = [{"quality": {"f1": 10.0}, "params": 7, "history": [{"epoch": 1, "val_loss": 2.0}], "model": "m"},
            {"quality": {"f1": 20.0}, "params": 7, "history": [{"epoch": 1, "val_loss": 4.0}], "model": "m"}]
    mean, half = aggregate(runs)
    assert mean == {"quality": {"f1": 15.0}, "params": 7, "history": [{"epoch": 1, "val_loss": 3.0}], "model": "m"}
    assert half["quality"]["f1"] == pytest.approx(12.7062047 * 5.0)
    record = seed_record({0: runs[0], 3: runs[1]})
    assert record["seeds"] == [0, 3] and record["per_seed"]["3"] is runs[1]
    assert record["ci"]["history"][0]["val_loss"] == pytest.approx(12.7062047)


def test_parse_seeds():
    assert parse_seeds(None, 5) is None
    assert parse_seeds("3", 5) == [5, 6, 7]
    assert parse_seeds("0,4,2", 5) == [0, 4, 2]
    for bad in ("0", "-1", "a", "1,1", ","):
        with pytest.raises(UsageError, match="--seeds"):
            parse_seeds(bad, 0)


def _results(difference: float, ci: list[float], base_ci: list[float]) -> dict:
    return {"primary_metric": "rougeL",
            "methods": {"lora": {"quality": {"rougeL": 20.0}}, "prompt": {"quality": {"rougeL": 20.0 - difference}}},
            "uncertainty": {"metric": "rougeL", "examples": 16, "resamples": 1000,
                            "best_vs_runner_up": {"best": "lora", "runner_up": "prompt", "difference": difference,
                                                  "ci": ci},
                            "vs_base": {"lora": {"difference": 5.0, "ci": base_ci},
                                        "prompt": {"difference": -3.0, "ci": [-6.0, -1.0]}}}}


def test_sentences_say_indistinguishable_when_the_interval_covers_zero():
    sentences = analysis_sentences(_results(1.5, [-0.5, 3.25], [-1.0, 9.0]))
    assert "lora and prompt are indistinguishable at this budget (rougeL difference +1.50, 95% CI [-0.50, 3.25])." \
        in sentences
    assert "lora and the base model are indistinguishable at this budget (rougeL difference +5.00, " \
           "95% CI [-1.00, 9.00])." in sentences
    assert "The base model beats prompt by +3.00 rougeL (95% CI [1.00, 6.00])." in sentences
    assert not any(s.startswith("Best rougeL") for s in sentences)


def test_sentences_state_an_ordering_when_the_interval_excludes_zero():
    sentences = analysis_sentences(_results(4.0, [1.25, 7.0], [2.0, 8.0]))
    assert "lora beats prompt by +4.00 rougeL (95% CI [1.25, 7.00])." in sentences
    assert "lora beats the base model by +5.00 rougeL (95% CI [2.00, 8.00])." in sentences


def test_with_seed_intervals_overlapping_times_name_no_winner():
    results = {"methods": {"prompt": {"epoch_time_s": 10.0, "ci": {"epoch_time_s": 3.0}},
                           "lora": {"epoch_time_s": 12.0, "ci": {"epoch_time_s": 1.5}},
                           "last-layer": {"epoch_time_s": 30.0, "ci": {"epoch_time_s": 2.0}}}}
    assert "Fastest per epoch: no clear winner — prompt and lora have overlapping 95% intervals of time per " \
           "epoch over seeds." in analysis_sentences(results)
    results["methods"]["prompt"]["ci"]["epoch_time_s"] = 1.0  # [9, 11] vs lora [10.5, 13.5]: still overlapping
    assert "no clear winner" in analysis_sentences(results)[0]
    results["methods"]["lora"]["ci"]["epoch_time_s"] = 0.5  # [11.5, 12.5]: apart
    assert any(s.startswith("Fastest per epoch: prompt at 10.0") for s in analysis_sentences(results))


def test_empty_generations_are_named_in_the_analysis():
    results = {"primary_metric": "f1",
               "methods": {"last-layer": {"quality": {"f1": 0.7}, "generations": {"examples": 20, "empty": 20}},
                           "lora": {"quality": {"f1": 30.0}, "generations": {"examples": 20, "empty": 3}}},
               "baseline": {"generations": {"examples": 20, "empty": 0}}}
    sentences = analysis_sentences(results)
    assert "last-layer: all 20 generations are empty, so its f1 measures when it stops, not what it says." in sentences
    assert "lora: 3 of 20 generations are empty (scored as wrong answers), which pulls its f1 down." in sentences
    assert not any(s.startswith("The base model:") for s in sentences)


def test_training_flops_follow_the_stated_convention():
    run = {"total_params": 100, "trainable_params": 10, "train_tokens": 5}
    assert training_flops(run, True) == 5 * (2 * 100 + 4 * 10 + 2 * 90)  # gradient through the frozen 90
    assert training_flops(run, False) == 5 * (2 * 100 + 4 * 10)  # last-layer: nothing below the block
    assert training_flops({"total_params": 100}, True) is None


def test_the_command_line_names_every_setting_that_differs_from_its_default():
    cfg = CompareConfig(seeds="2", out="runs/qa study", lr_search=True)
    cfg.run.data.task, cfg.run.train.epochs, cfg.quality.min_new_tokens = "qa", 3, 0
    assert command_line(cfg) == ("peftlab compare --seeds 2 --lr-search --out 'runs/qa study' --min-new-tokens 0 "
                                 "--task qa --epochs 3")


def _samples(path, key, references, generations):
    path.mkdir(parents=True)
    lines = [json.dumps({"reference": r, key: g}) for r, g in zip(references, generations)]
    (path / "samples.jsonl").write_text("\n".join(lines) + "\n")
    return path


def test_example_uncertainty_pairs_runs_on_the_same_examples(tmp_path):
    refs = ["Sofia", "the red house", "in 1990", "Ana"]
    perfect = _samples(tmp_path / "a0", "generation", refs, refs)
    half = _samples(tmp_path / "a1", "generation", refs, ["Sofia", "", "in 1990", ""])
    base = _samples(tmp_path / "base", "base_generation", refs, ["", "", "", ""])
    u = example_uncertainty(get_task("qa"), "f1", {"lora": [perfect, half], "prompt": [half]}, base)
    assert u["vs_base"]["lora"]["difference"] == pytest.approx(75.0)  # mean over seeds of 100 and 50
    assert u["intervals"]["base model"] == [0.0, 0.0] and u["per_run"]["lora"][0] == [100.0, 100.0]
    assert len(u["per_run"]["lora"]) == 2 and u["per_run"]["prompt"] == [u["intervals"]["prompt"]]
    top = u["best_vs_runner_up"]
    assert (top["best"], top["runner_up"], top["difference"]) == ("lora", "prompt", pytest.approx(25.0))
    lo, hi = top["ci"]
    assert 0 <= lo <= 25.0 <= hi <= 50.0  # lora ≥ prompt on every example: the paired difference never < 0
    assert u == example_uncertainty(get_task("qa"), "f1", {"lora": [perfect, half], "prompt": [half]}, base)
    other = _samples(tmp_path / "other", "generation", refs[::-1], refs[::-1])
    assert example_uncertainty(get_task("qa"), "f1", {"lora": [other]}, base) is None  # other examples: no pairing


def test_corpus_bleu_is_recomputed_per_resample():
    refs = ["the cat sat on the mat", "a dog runs in the park", "we read a book today"]
    statistic = get_task("translate").statistic(refs, refs, "bleu")
    assert bootstrap_ci(statistic, 3, resamples=50) == (pytest.approx(100.0), pytest.approx(100.0))
