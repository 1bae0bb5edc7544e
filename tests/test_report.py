"""Report rendering from a fixed results dict: files, exact figures, analysis, missing values."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from peftlab.report import DASH, UNTRAINED_NOTE, analysis_sentences, render_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXPECTED_FILES = {
    "report.md", "report.html", "loss.png", "memory.png", "time.png", "params.png", "quality.png",
}  # fmt: skip


def _method(params, pct, loss, history, epoch_time, tok_s, mem, quality):
    return {
        "trainable_params": params,
        "total_params": 134515008 + params,
        "trainable_pct": pct,
        "loss": dict(zip(("train", "val", "test"), loss)),
        "history": [
            {"epoch": i + 1, "train_loss": t, "val_loss": v, "time_s": s}
            for i, (t, v, s) in enumerate(history)
        ],
        "epoch_time_s": epoch_time,
        "train_tokens_per_s": tok_s,
        "peak_memory_mb": mem,
        "quality": dict(zip(("rouge1", "rouge2", "rougeL"), quality)),
        "eval_time_s": 20.0,
    }


@pytest.fixture
def results() -> dict:
    # Hand-chosen so that: memory  lora 400 < prompt 850 < last-layer 1200 (ratio 3.00)
    #                      time    prompt 60.6 < lora 75.0 < last-layer 90.9 (ratio 1.50)
    #                      rougeL  lora 27.5 best, +12.3 over base 15.2
    #                      params  prompt 2,880 fewest; last-layer 28,800,000 (ratio 10,000)
    #                      gap     prompt 0.2, lora 0.15, last-layer 0.7 (largest)
    #                      val     last-layer rises over the last 2 epochs 2.2 -> 2.3 -> 2.5
    return {
        "task": "summarize",
        "primary_metric": "rougeL",
        "config": {"model": "default", "data": "builtin", "epochs": 3, "batch_size": 8,
                   "lr": 0.0003, "seed": 0, "lora_rank": 8, "max_steps": None},
        "environment": {"peftlab": "0.1.0", "python": "3.11.7", "torch": "2.13.0",
                        "transformers": "5.23.0", "device": "cpu",
                        "device_name": "x86_64, 2 threads", "precision": "fp32"},
        "model": {"name": "default", "label": "SmolLM2-135M-Instruct (embedded)",
                  "total_params": 134515008, "untrained": False},
        "data": {"origin": "builtin", "sizes": {"train": 600, "val": 80, "test": 80}},
        "memory_kind": "peak RSS growth over the loaded model (CPU)",
        "baseline": {"quality": {"rouge1": 20.1, "rouge2": 5.0, "rougeL": 15.2},
                     "loss": {"train": 3.1, "val": 3.2, "test": 3.25}},
        "methods": {
            "prompt": _method(2880, 0.00214, (2.1, 2.3, 2.35),
                              [(2.5, 2.4, 61.0), (2.2, 2.35, 60.2), (2.1, 2.3, 60.6)],
                              60.6, 1500.0, 850.0, (30.0, 12.0, 25.0)),
            "lora": _method(460800, 0.342, (1.9, 2.05, 2.1),
                            [(2.3, 2.2, 75.5), (2.0, 2.1, 74.5), (1.9, 2.05, 75.0)],
                            75.0, 1210.0, 400.0, (32.5, 13.25, 27.5)),
            "last-layer": _method(28800000, 17.6, (1.8, 2.5, 2.55),
                                  [(2.2, 2.2, 91.0), (1.9, 2.3, 90.8), (1.8, 2.5, 90.9)],
                                  90.9, 1000.0, 1200.0, (29.0, 11.0, 24.75)),
        },
    }  # fmt: skip


@pytest.fixture
def rendered(results, tmp_path) -> dict[str, Path]:
    return render_report(results, tmp_path / "out")


def _row(md: str, first_cell: str) -> list[str]:
    """Cells of the Markdown table row whose first cell is `first_cell`."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r}")


# --- files --------------------------------------------------------------------------------------


def test_writes_all_files_non_empty(rendered):
    assert set(rendered) == EXPECTED_FILES
    for name, path in rendered.items():
        assert path.name == name and path.stat().st_size > 0
        if name.endswith(".png"):
            assert path.read_bytes().startswith(PNG_MAGIC)
    assert rendered["report.html"].read_text().startswith("<!DOCTYPE html>")
    assert rendered["report.md"].read_text().startswith("# ")


def test_html_is_self_contained(rendered):
    page = rendered["report.html"].read_text()
    assert page.count('src="data:image/png;base64,') == 5
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<link" not in page and "<script" not in page and "@import" not in page
    # no http(s) anywhere outside the base64 payloads
    assert "http" not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)


def test_markdown_links_the_plots(rendered):
    md = rendered["report.md"].read_text()
    for name in ("loss.png", "memory.png", "time.png", "params.png", "quality.png"):
        assert f"]({name})" in md


# --- exact figures ------------------------------------------------------------------------------


def test_main_table_holds_the_exact_figures(rendered):
    md = rendered["report.md"].read_text()
    header = _row(md, "method")
    assert header[:9] == ["method", "trainable params", "% of model", "loss train", "loss val",
                          "loss test", "peak memory MB", "time/epoch s", "tokens/s"]  # fmt: skip
    assert header[9:] == ["rouge1", "rouge2", "rougeL"]
    assert _row(md, "prompt") == [
        "prompt", "2,880", "0.00214%", "2.100", "2.300", "2.350",
        "850.0", "60.6", "1,500", "30.00", "12.00", "25.00",
    ]  # fmt: skip
    assert _row(md, "lora")[1:3] == ["460,800", "0.342%"]
    assert _row(md, "lora")[9:] == ["32.50", "13.25", "27.50"]
    assert _row(md, "last-layer")[1:9] == [
        "28,800,000", "17.6%", "1.800", "2.500", "2.550", "1200.0", "90.9", "1,000",
    ]  # fmt: skip
    assert _row(md, "base model (no adapter)") == [
        "base model (no adapter)", DASH, DASH, "3.100", "3.200", "3.250",
        DASH, DASH, DASH, "20.10", "5.00", "15.20",
    ]  # fmt: skip


def test_every_epoch_is_listed(rendered):
    md = rendered["report.md"].read_text()
    assert "| last-layer | 3 | 1.800 | 2.500 | 90.9 |" in md
    assert "| prompt | 1 | 2.500 | 2.400 | 61.0 |" in md


def test_config_environment_and_memory_kind_are_reported(rendered, results):
    md = rendered["report.md"].read_text()
    for key, value in results["config"].items():
        shown = value if isinstance(value, str) else {None: "null"}.get(value, str(value))
        assert f"| {key} | {shown} |" in md
    for key, value in results["environment"].items():
        assert f"| {key} | {value} |" in md
    assert "peak RSS growth over the loaded model (CPU)" in md
    assert "summarize" in md.splitlines()[0] and "SmolLM2-135M-Instruct" in md.splitlines()[0]


def test_html_has_the_same_content_as_markdown(rendered):
    page = rendered["report.html"].read_text()
    assert "<td>0.00214%</td>" in page and "<td>1,500</td>" in page
    assert "<td>base model (no adapter)</td>" in page
    assert "Fastest per epoch: prompt at 60.6 s" in page


# --- analysis -----------------------------------------------------------------------------------


def test_analysis_names_the_right_methods(results):
    text = analysis_sentences(results)
    assert "Lowest peak memory: lora at 400.0 MB, 3.00× less than last-layer (1200.0 MB)." in text
    assert "Fastest per epoch: prompt at 60.6 s, 1.50× faster than last-layer (90.9 s)." in text
    assert "Best rougeL: lora at 27.50, +12.30 points vs the base model (15.20)." in text
    assert (
        "Fewest trainable parameters: prompt at 2,880, 10,000× fewer than last-layer (28,800,000)."
        in text
    )
    gaps = "Final train–val loss gap (val − train): "
    gaps += "prompt +0.200, lora +0.150, last-layer +0.700."
    assert gaps in text
    assert "Largest gap, the strongest overfitting signal: last-layer (+0.700)." in text
    rising = [s for s in text if "val loss rose" in s]
    assert rising == [
        "last-layer: val loss rose over the last 2 epochs (epoch 1 2.200 → epoch 3 2.500)."
    ]


def test_analysis_follows_the_numbers(results):
    changed = copy.deepcopy(results)
    changed["methods"]["last-layer"]["peak_memory_mb"] = 200.0  # now cheapest
    changed["methods"]["lora"]["epoch_time_s"] = 30.3  # now fastest
    changed["methods"]["prompt"]["quality"]["rougeL"] = 31.0  # now best
    changed["methods"]["lora"]["loss"]["val"] = 3.0  # now largest gap (+1.100)
    changed["methods"]["last-layer"]["history"][1]["val_loss"] = 2.1  # 2.2, 2.1, 2.5: rises once
    text = analysis_sentences(changed)
    assert "Lowest peak memory: last-layer at 200.0 MB, 4.25× less than prompt (850.0 MB)." in text
    assert "Fastest per epoch: lora at 30.3 s, 3.00× faster than last-layer (90.9 s)." in text
    assert "Best rougeL: prompt at 31.00, +15.80 points vs the base model (15.20)." in text
    assert "Largest gap, the strongest overfitting signal: lora (+1.100)." in text
    assert [s for s in text if "val loss rose" in s] == [
        "last-layer: val loss rose over the last epoch (epoch 2 2.100 → epoch 3 2.500)."
    ]


def test_analysis_reports_a_loss_against_the_base_model(results):
    for m in results["methods"].values():
        m["quality"]["rougeL"] = 10.0
    text = analysis_sentences(results)
    # a tie names every method; a negative change is reported as such, not hidden
    assert (
        "Best rougeL: prompt, lora and last-layer at 10.00, -5.20 points vs the base model (15.20)."
        in text
    )


def test_sentences_quote_the_input_figures(results):
    # the compared figures appear verbatim, formatted as in the table
    text = " ".join(analysis_sentences(results))
    for number in ("400.0", "1200.0", "60.6", "90.9", "27.50", "15.20", "2,880", "28,800,000"):
        assert number in text


# --- missing figures ----------------------------------------------------------------------------


def test_none_and_missing_figures_render_as_dash(results, tmp_path):
    prompt = results["methods"]["prompt"]
    prompt["peak_memory_mb"] = None
    prompt["loss"]["test"] = None
    prompt["quality"] = None
    del prompt["epoch_time_s"]
    results["methods"]["lora"]["history"] = None
    results["baseline"] = None
    results["methods"]["last-layer"]["trainable_params"] = None
    paths = render_report(results, tmp_path)
    md = paths["report.md"].read_text()
    row = _row(md, "prompt")
    assert row[5:8] == [DASH, DASH, DASH]  # loss test, memory, time/epoch
    assert row[9:] == [DASH, DASH, DASH]  # quality
    assert _row(md, "base model (no adapter)")[3:] == [DASH] * 9
    text = analysis_sentences(results)
    assert (
        "Lowest peak memory: lora at 400.0 MB, 3.00× less than last-layer (1200.0 MB)"
        " (prompt not measured)." in text
    )
    assert "Best rougeL: lora at 27.50." in text  # no base model -> no gain claimed
    assert (
        "Fewest trainable parameters: prompt at 2,880, 160× fewer than lora (460,800)"
        " (last-layer not measured)." in text
    )
    assert (
        "Fastest per epoch: lora at 75.0 s, 1.21× faster than last-layer (90.9 s)"
        " (prompt not measured)." in text
    )
    for name in ("loss.png", "memory.png", "quality.png", "params.png"):
        assert paths[name].read_bytes().startswith(PNG_MAGIC)


def test_almost_empty_results_still_render(tmp_path):
    paths = render_report({"task": "qa", "methods": {"prompt": None}}, tmp_path)
    assert set(paths) == EXPECTED_FILES
    assert all(p.stat().st_size > 0 for p in paths.values())
    assert analysis_sentences({"task": "qa"}) == []
    assert DASH in paths["report.md"].read_text()


def test_single_method_gives_no_comparison_sentences(results):
    results["methods"] = {"lora": results["methods"]["lora"]}
    text = analysis_sentences(results)
    assert not any(s.startswith(("Lowest", "Fastest", "Fewest", "Largest")) for s in text)
    assert "Best rougeL: lora at 27.50, +12.30 points vs the base model (15.20)." in text


def test_equal_figures_are_called_equal(results):
    for m in results["methods"].values():
        m["epoch_time_s"] = 70.0
    assert "All measured methods have the same time per epoch (70.0 s)." in analysis_sentences(
        results
    )


def test_zero_memory_growth_gives_no_ratio(results):
    results["methods"]["lora"]["peak_memory_mb"] = 0.0
    text = analysis_sentences(results)
    assert "Lowest peak memory: lora at 0.0 MB; highest is last-layer (1200.0 MB)." in text


# --- untrained label ----------------------------------------------------------------------------


def test_untrained_model_is_labelled(results, tmp_path):
    results["model"]["untrained"] = True
    paths = render_report(results, tmp_path)
    md = paths["report.md"].read_text()
    assert UNTRAINED_NOTE == (
        "random weights, untrained — figures test the pipeline, not the method"
    )
    assert UNTRAINED_NOTE in md
    assert UNTRAINED_NOTE in paths["report.html"].read_text()


def test_trained_model_is_not_labelled_untrained(rendered):
    assert "untrained" not in rendered["report.md"].read_text()


def test_the_report_says_what_the_figures_were_measured_on():
    from peftlab.report import build_document, render_markdown

    results = {"environment": {"device": "cpu", "device_name": "AMD EPYC", "cpu_capability": "AVX2",
                               "native_bf16": False, "precision": "fp32", "precision_requested": "auto",
                               "cpu_threads": 2, "torch": "2.13.0", "peftlab": "0.1.0"}}
    text = render_markdown(build_document(results))
    assert "Measured on cpu: AMD EPYC (CPU AVX2, no native bf16); precision fp32 (auto); 2 threads" in text
