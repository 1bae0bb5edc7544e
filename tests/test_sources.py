"""Tests for peftlab.data.sources (with its files, hf and splits modules): every input format, splitting,
mapping, presets and every error."""

from __future__ import annotations

import csv
import json
import sys
import types
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from peftlab.data.files import read_data_file
from peftlab.data.hf import apply_preset, find_preset
from peftlab.data.sources import field_map_from_flags, load_data
from peftlab.data.splits import SPLITS, LoadedData
from peftlab.data.tasks import TASK_REGISTRY, Task, get_task
from peftlab.errors import UsageError


def summ_rows(n: int) -> list[dict[str, str]]:
    return [{"article": f"article {i} text", "summary": f"summary {i}"} for i in range(n)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_json_list(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def all_rows(loaded: LoadedData) -> list[dict[str, str]]:
    return [row for split in SPLITS for row in loaded.splits[split]]


# --- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize("writer,name", [
    (write_jsonl, "d.jsonl"),
    (write_jsonl, "d.json"),
    (write_json_list, "d.json"),
    (write_csv, "d.csv"),
    (write_parquet, "d.parquet"),
])
def test_each_format_loads_and_splits(tmp_path, writer, name):
    path = writer(tmp_path / name, summ_rows(20))
    loaded = load_data(str(path), "summarize")
    assert [len(loaded.splits[s]) for s in SPLITS] == [16, 2, 2]
    assert sorted(r["article"] for r in all_rows(loaded)) == sorted(r["article"] for r in summ_rows(20))
    assert all(set(r) == {"article", "summary"} for r in all_rows(loaded))
    assert loaded.origin == f"file:{path.resolve()} (split 0.8/0.1/0.1, seed 0)"
    assert loaded.skipped == {"train": 0, "val": 0, "test": 0}


def test_values_are_stripped_and_extra_columns_dropped(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"article": "  a  ", "summary": "s\n", "id": 3}] * 5)
    loaded = load_data(str(path), "summarize")
    assert all(r == {"article": "a", "summary": "s"} for r in all_rows(loaded))


def test_jsonl_tolerates_blank_lines_bom_and_unicode_line_separators(tmp_path):
    rows = [{"source": "Здравей\u2028свят", "target": "Hello world"}] * 4
    text = "\ufeff" + "\n\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n"
    path = tmp_path / "d.jsonl"
    path.write_text(text, encoding="utf-8")
    loaded = load_data(str(path), "translate")
    assert len(all_rows(loaded)) == 4
    assert loaded.splits["train"][0]["source"] == "Здравей\u2028свят"


def test_csv_handles_quoted_newlines_and_long_fields(tmp_path):
    long_article = "word " * 40_000  # > csv's default 128 KiB field limit
    rows = [{"article": long_article + str(i), "summary": "line one\nline two"} for i in range(5)]
    loaded = load_data(str(write_csv(tmp_path / "d.csv", rows)), "summarize")
    assert len(all_rows(loaded)) == 5
    assert all(r["summary"] == "line one\nline two" for r in all_rows(loaded))


def test_read_data_file_parquet_keeps_nested_columns(tmp_path):
    rows = [{"answers": {"text": ["x"], "answer_start": [0]}, "context": "c"}]
    assert read_data_file(write_parquet(tmp_path / "d.parquet", rows)) == rows


# --- directories -----------------------------------------------------------------------------


def test_directory_with_validation_file_keeps_given_splits_in_order(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", summ_rows(6))
    write_jsonl(tmp_path / "validation.jsonl", summ_rows(3))
    write_csv(tmp_path / "test.csv", summ_rows(2))
    loaded = load_data(str(tmp_path), "summarize")
    assert loaded.splits["train"] == summ_rows(6)  # no shuffle when the split exists
    assert loaded.splits["val"] == summ_rows(3)
    assert loaded.splits["test"] == summ_rows(2)
    assert loaded.origin == f"dir:{tmp_path.resolve()}"


def test_directory_mixed_formats_and_val_name(tmp_path):
    write_parquet(tmp_path / "train.parquet", summ_rows(5))
    write_csv(tmp_path / "val.csv", summ_rows(2))
    write_jsonl(tmp_path / "test.json", summ_rows(1))
    (tmp_path / "notes.txt").write_text("ignored")
    loaded = load_data(str(tmp_path), "summarize")
    assert [len(loaded.splits[s]) for s in SPLITS] == [5, 2, 1]


def test_directory_missing_test_is_carved_from_train(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", summ_rows(90))
    write_jsonl(tmp_path / "val.jsonl", summ_rows(7))
    loaded = load_data(str(tmp_path), "summarize", split_ratio=(0.8, 0.1, 0.1))
    # test share renormalised over train + test: 0.1 / 0.9 of 90 rows
    assert [len(loaded.splits[s]) for s in SPLITS] == [80, 7, 10]
    assert "test carved from train" in loaded.origin
    assert not {r["article"] for r in loaded.splits["train"]} & {r["article"] for r in loaded.splits["test"]}


def test_directory_with_only_train_is_split_by_ratio(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", summ_rows(10))
    loaded = load_data(str(tmp_path), "summarize", split_ratio=(0.6, 0.2, 0.2))
    assert [len(loaded.splits[s]) for s in SPLITS] == [6, 2, 2]


def test_directory_without_train_is_an_error(tmp_path):
    write_jsonl(tmp_path / "val.jsonl", summ_rows(3))
    with pytest.raises(UsageError, match="no train file.*val.jsonl"):
        load_data(str(tmp_path), "summarize")


def test_directory_with_two_train_files_is_an_error(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", summ_rows(3))
    write_csv(tmp_path / "train.csv", summ_rows(3))
    with pytest.raises(UsageError, match="several train files"):
        load_data(str(tmp_path), "summarize")


# --- field mapping ---------------------------------------------------------------------------


def test_field_map_from_flags_per_task():
    assert field_map_from_flags("summarize", source_field="text", target_field="abstract") == {
        "article": "text", "summary": "abstract"}
    assert field_map_from_flags("translate", source_field="bg", target_field="en") == {"source": "bg", "target": "en"}
    assert field_map_from_flags("qa", source_field="ctx", question_field="q", target_field="a") == {
        "context": "ctx", "question": "q", "answer": "a"}
    assert field_map_from_flags("qa", context_field="ctx") == {"context": "ctx"}
    assert field_map_from_flags("qa", source_field="ctx", context_field="ctx") == {"context": "ctx"}
    assert field_map_from_flags("summarize") == {}


def test_field_map_from_flags_errors():
    with pytest.raises(UsageError, match="--question-field only applies to --task qa"):
        field_map_from_flags("translate", question_field="q")
    with pytest.raises(UsageError, match="--context-field only applies to --task qa"):
        field_map_from_flags("summarize", context_field="c")
    with pytest.raises(UsageError, match="disagree"):
        field_map_from_flags("qa", source_field="a", context_field="b")
    with pytest.raises(UsageError, match="unknown task"):
        field_map_from_flags("poetry", source_field="a")


def test_load_with_mapped_columns(tmp_path):
    rows = [{"bg": f"изречение {i}", "en": f"sentence {i}", "other": 1} for i in range(10)]
    path = write_csv(tmp_path / "d.csv", rows)
    fmap = field_map_from_flags("translate", source_field="bg", target_field="en")
    loaded = load_data(str(path), "translate", field_map=fmap)
    assert {r["target"] for r in all_rows(loaded)} == {f"sentence {i}" for i in range(10)}
    assert all(set(r) == {"source", "target"} for r in all_rows(loaded))


def test_qa_mapping(tmp_path):
    rows = [{"passage": f"p{i}", "query": f"q{i}", "gold": f"a{i}"} for i in range(10)]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    fmap = field_map_from_flags("qa", context_field="passage", question_field="query", target_field="gold")
    loaded = load_data(str(path), "qa", field_map=fmap)
    assert loaded.splits["train"][0].keys() == {"context", "question", "answer"}


def test_field_map_with_unknown_field_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", summ_rows(5))
    with pytest.raises(UsageError, match="not a field of task summarize"):
        load_data(str(path), "summarize", field_map={"answer": "x"})


# --- splitting and caps ----------------------------------------------------------------------


def test_split_is_deterministic_per_seed_and_disjoint(tmp_path):
    path = str(write_jsonl(tmp_path / "d.jsonl", summ_rows(100)))
    a, b = load_data(path, "summarize", seed=1), load_data(path, "summarize", seed=1)
    c = load_data(path, "summarize", seed=2)
    assert a.splits == b.splits
    assert a.splits["train"] != c.splits["train"]
    ids = [r["article"] for r in all_rows(a)]
    assert len(ids) == len(set(ids)) == 100
    assert a.splits["train"] != summ_rows(100)[:80]  # shuffled
    assert "seed 1" in a.origin


@pytest.mark.parametrize("ratio,n,sizes", [
    ((0.8, 0.1, 0.1), 100, [80, 10, 10]),
    ((0.5, 0.25, 0.25), 8, [4, 2, 2]),
    ((0.8, 0.1, 0.1), 5, [3, 1, 1]),  # a positive share gets at least one row
    ((0.8, 0.1, 0.1), 3, [1, 1, 1]),
    ([0.7, 0.2, 0.1], 10, [7, 2, 1]),
])
def test_split_sizes(tmp_path, ratio, n, sizes):
    loaded = load_data(str(write_jsonl(tmp_path / "d.jsonl", summ_rows(n))), "summarize", split_ratio=ratio)
    assert [len(loaded.splits[s]) for s in SPLITS] == sizes


@pytest.mark.parametrize("ratio", [(0.5, 0.5), (0.8, 0.1, 0.2), (0, 0.5, 0.5), (1.2, -0.1, -0.1),
                                   ("a", "b", "c"), (float("nan"), 0.5, 0.5)])
def test_bad_split_ratio(tmp_path, ratio):
    path = str(write_jsonl(tmp_path / "d.jsonl", summ_rows(10)))
    with pytest.raises(UsageError, match="bad split ratio.*--split-ratio"):
        load_data(path, "summarize", split_ratio=ratio)


def test_too_few_rows_for_a_split_is_an_error(tmp_path):
    with pytest.raises(UsageError, match="split 'test' .* is empty.*--split-ratio"):
        load_data(str(write_jsonl(tmp_path / "d.jsonl", summ_rows(2))), "summarize")
    with pytest.raises(UsageError, match="split 'test' .* is empty"):
        load_data(str(write_jsonl(tmp_path / "e.jsonl", summ_rows(10))), "summarize", split_ratio=(0.9, 0.1, 0.0))


def test_max_samples_keep_first_rows_after_shuffle(tmp_path):
    path = str(write_jsonl(tmp_path / "d.jsonl", summ_rows(100)))
    full = load_data(path, "summarize")
    capped = load_data(path, "summarize", max_train_samples=7, max_eval_samples=3)
    assert capped.splits["train"] == full.splits["train"][:7]
    assert capped.splits["val"] == full.splits["val"][:3]
    assert capped.splits["test"] == full.splits["test"][:3]


def test_max_samples_larger_than_split_keeps_all(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", summ_rows(4))
    write_jsonl(tmp_path / "val.jsonl", summ_rows(2))
    write_jsonl(tmp_path / "test.jsonl", summ_rows(2))
    loaded = load_data(str(tmp_path), "summarize", max_train_samples=50, max_eval_samples=50)
    assert [len(loaded.splits[s]) for s in SPLITS] == [4, 2, 2]


@pytest.mark.parametrize("kwargs,flag", [({"max_train_samples": 0}, "--max-train-samples"),
                                         ({"max_eval_samples": -3}, "--max-eval-samples"),
                                         ({"max_train_samples": 2.5}, "--max-train-samples")])
def test_bad_max_samples(tmp_path, kwargs, flag):
    with pytest.raises(UsageError, match=f"{flag} must be a positive whole number"):
        load_data(str(write_jsonl(tmp_path / "d.jsonl", summ_rows(10))), "summarize", **kwargs)


# --- bad rows: skipped and strict ------------------------------------------------------------


def test_bad_rows_are_skipped_and_counted_per_split(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", summ_rows(5) + [{"article": "a", "summary": "   "},
                                                         {"article": 3, "summary": "s"},
                                                         {"article": "a"},
                                                         {"article": None, "summary": "s"}])
    write_jsonl(tmp_path / "val.jsonl", summ_rows(2) + [{"article": ["x"], "summary": "s"}])
    write_jsonl(tmp_path / "test.jsonl", summ_rows(2))
    loaded = load_data(str(tmp_path), "summarize")
    assert loaded.skipped == {"train": 4, "val": 1, "test": 0}
    assert [len(loaded.splits[s]) for s in SPLITS] == [5, 2, 2]


def test_skipped_rows_in_one_file_count_under_train_and_ratio_applies_to_usable_rows(tmp_path):
    rows = summ_rows(40) + [{"article": "", "summary": "s"}] * 10
    loaded = load_data(str(write_jsonl(tmp_path / "d.jsonl", rows)), "summarize")
    assert loaded.skipped == {"train": 10, "val": 0, "test": 0}
    assert [len(loaded.splits[s]) for s in SPLITS] == [32, 4, 4]


def test_skipped_rows_counted_even_when_train_is_capped(tmp_path):
    rows = summ_rows(40) + [{"article": "", "summary": "s"}] * 10
    loaded = load_data(str(write_jsonl(tmp_path / "d.jsonl", rows)), "summarize", max_train_samples=2)
    assert loaded.skipped["train"] == 10 and len(loaded.splits["train"]) == 2


def test_csv_short_row_is_skipped(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("article,summary\n" + "".join(f"a{i},s{i}\n" for i in range(5)) + "lonely\n", encoding="utf-8")
    loaded = load_data(str(path), "summarize")
    assert loaded.skipped == {"train": 1, "val": 0, "test": 0}
    assert [len(loaded.splits[s]) for s in SPLITS] == [3, 1, 1]


@pytest.mark.parametrize("bad,what", [({"article": "a", "summary": " "}, "is empty"),
                                      ({"article": 7, "summary": "s"}, r"is not a string \(int\)"),
                                      ({"article": "a"}, "is missing")])
def test_strict_names_row_and_field(tmp_path, bad, what):
    write_jsonl(tmp_path / "train.jsonl", summ_rows(2) + [bad] + summ_rows(2))
    write_jsonl(tmp_path / "val.jsonl", summ_rows(1))
    write_jsonl(tmp_path / "test.jsonl", summ_rows(1))
    with pytest.raises(UsageError, match=f"row 3 of .*train.jsonl: field '(article|summary)'.*{what}.*--strict"):
        load_data(str(tmp_path), "summarize", strict=True)


def test_strict_on_one_file_reports_row_number_before_shuffle(tmp_path):
    rows = summ_rows(30)
    rows[16] = {"article": "a", "summary": ""}
    with pytest.raises(UsageError, match="row 17 of .*field 'summary'"):
        load_data(str(write_jsonl(tmp_path / "d.jsonl", rows)), "summarize", strict=True)


def test_all_rows_bad_is_an_error_with_the_first_reason(tmp_path):
    rows = [{"article": "a", "summary": 1}] * 10
    with pytest.raises(UsageError, match="no usable rows.*first: row .*field 'summary'.*--target-field"):
        load_data(str(write_jsonl(tmp_path / "d.jsonl", rows)), "summarize")


# --- errors ----------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="data not found.*nope.jsonl"):
        load_data(str(tmp_path / "nope.jsonl"), "summarize")


@pytest.mark.skipif(sys.platform == "win32" or getattr(__import__("os"), "geteuid", lambda: 1)() == 0,
                    reason="root can read anything")
def test_unreadable_file(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", summ_rows(3))
    path.chmod(0)
    try:
        with pytest.raises(UsageError, match="cannot read data file"):
            load_data(str(path), "summarize")
    finally:
        path.chmod(0o644)


def test_unreadable_file_even_as_root(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "d.jsonl", summ_rows(3))

    def deny(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(UsageError, match="cannot read data file .*d.jsonl: Permission denied"):
        load_data(str(path), "summarize")


def test_unknown_extension_lists_supported(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("hello")
    with pytest.raises(UsageError, match=r"unsupported data file 'd.txt'.*\.jsonl, \.json, \.csv, \.parquet"):
        load_data(str(path), "summarize")


def test_malformed_json_line_gives_line_number(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"article": "a", "summary": "s"}\n\n{"article": "a", \n', encoding="utf-8")
    with pytest.raises(UsageError, match="line 3 of .*d.jsonl is not valid JSON"):
        load_data(str(path), "summarize")


def test_json_line_that_is_not_an_object(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"article": "a", "summary": "s"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(UsageError, match="line 2 of .* not an object"):
        load_data(str(path), "summarize")


def test_malformed_json_list(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('[\n{"article": "a", "summary": "s"},\n{"article": }\n]', encoding="utf-8")
    with pytest.raises(UsageError, match="not valid JSON \\(line 3"):
        load_data(str(path), "summarize")
    path.write_text('[{"article": "a", "summary": "s"}, 5]', encoding="utf-8")
    with pytest.raises(UsageError, match="item 2 of the list"):
        load_data(str(path), "summarize")


@pytest.mark.parametrize("name", ["d.jsonl", "d.csv"])
def test_invalid_utf8_names_the_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b'{"article": "a", "summary": "s"}\n{"article": "\xff\xfe", "summary": "s"}\n')
    with pytest.raises(UsageError, match=f"{name} is not valid UTF-8 \\(line 2"):
        load_data(str(path), "summarize")


@pytest.mark.parametrize("name,content", [("d.jsonl", ""), ("d.jsonl", "\n \n"), ("d.json", "[]"),
                                          ("d.csv", ""), ("d.csv", "article,summary\n")])
def test_empty_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match="is empty"):
        load_data(str(path), "summarize")


def test_empty_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"article": pa.array([], pa.string()), "summary": pa.array([], pa.string())}), path)
    with pytest.raises(UsageError, match="is empty"):
        load_data(str(path), "summarize")


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(UsageError, match="as Parquet"):
        load_data(str(path), "summarize")


def test_missing_field_names_field_columns_and_flag(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "t", "abstract": "a"}] * 5)
    with pytest.raises(UsageError) as info:
        load_data(str(path), "summarize")
    message = str(info.value)
    assert "no column 'article'" in message and "text, abstract" in message and "--source-field" in message
    with pytest.raises(UsageError, match="no column 'summary'.*--target-field"):
        load_data(str(path), "summarize", field_map={"article": "text"})
    with pytest.raises(UsageError, match="no column 'question'.*--question-field"):
        load_data(str(path), "qa", field_map={"context": "text", "answer": "abstract"})


def test_missing_field_in_a_split_file(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", summ_rows(3))
    write_jsonl(tmp_path / "test.jsonl", [{"article": "a", "highlights": "h"}])
    with pytest.raises(UsageError, match="test.jsonl has no column 'summary'"):
        load_data(str(tmp_path), "summarize")


def test_unknown_task(tmp_path):
    with pytest.raises(UsageError, match="unknown task 'poetry'.*summarize, qa, translate"):
        load_data(str(write_jsonl(tmp_path / "d.jsonl", summ_rows(3))), "poetry")


def test_errors_are_one_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("{broken\n", encoding="utf-8")
    with pytest.raises(UsageError) as info:
        load_data(str(path), "summarize")
    assert "\n" not in str(info.value)


def test_nothing_is_written(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", summ_rows(20))
    before = sorted(p.name for p in tmp_path.iterdir())
    load_data(str(tmp_path), "summarize")
    load_data(str(path), "summarize")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# --- HF presets on local files shaped like the real datasets ----------------------------------


def cnn_like(n: int) -> list[dict]:
    return [{"article": f"(CNN) story {i}", "highlights": f"point {i}", "id": f"{i:04x}"} for i in range(n)]


def squad_like(n: int) -> list[dict]:
    return [{"id": str(i), "title": "T", "context": f"context {i}", "question": f"question {i}?",
             "answers": {"text": [f"answer {i}", "alt"], "answer_start": [0, 3]}} for i in range(n)]


def opus_like(n: int) -> list[dict]:
    return [{"translation": {"bg": f"изречение {i}", "en": f"sentence {i}"}} for i in range(n)]


def preset(name: str):
    return find_preset(name)[1]


def test_presets_cover_short_and_org_names():
    summarize = get_task("summarize")
    assert find_preset("cnn_dailymail") == find_preset("abisee/cnn_dailymail") == (summarize, preset("cnn_dailymail"))
    assert preset("cnn_dailymail").config == "3.0.0"
    assert find_preset("squad") == find_preset("rajpurkar/squad") == (get_task("qa"), preset("squad"))
    assert find_preset("opus100") == find_preset("Helsinki-NLP/opus-100") == (get_task("translate"), preset("opus100"))
    assert preset("opus100").config == "bg-en"
    assert find_preset("poetry") is None
    for task in TASK_REGISTRY.values():
        assert task.hf_preset is None or set(task.hf_preset.paths) == set(task.fields)


@pytest.mark.parametrize("name,make,expected", [
    ("cnn_dailymail", cnn_like, {"article": "(CNN) story 1", "summary": "point 1"}),
    ("squad", squad_like, {"context": "context 1", "question": "question 1?", "answer": "answer 1"}),
    ("opus100", opus_like, {"source": "изречение 1", "target": "sentence 1"}),
])
def test_apply_preset_on_parquet_shaped_like_dataset(tmp_path, name, make, expected):
    rows = read_data_file(write_parquet(tmp_path / "train.parquet", make(3)))
    assert apply_preset(rows, find_preset(name)[1])[1] == expected


def test_apply_preset_gives_none_for_absent_nested_values(tmp_path):
    rows = squad_like(2)
    rows[0]["answers"] = {"text": [], "answer_start": []}  # SQuAD v2 style unanswerable
    rows[1]["answers"] = None
    path = write_parquet(tmp_path / "d.parquet", rows)
    projected = apply_preset(read_data_file(path), preset("squad"))
    assert [r["answer"] for r in projected] == [None, None]


class FakeDataset(list):
    """Enough of datasets.Dataset for load_data: iteration and column_names."""

    @property
    def column_names(self) -> list[str]:
        return list(self[0]) if self else []


def fake_datasets(monkeypatch, splits: dict[str, list[dict]] | Exception) -> list[tuple]:
    calls: list[tuple] = []

    def load_dataset(name, config=None):
        calls.append((name, config))
        if isinstance(splits, Exception):
            raise splits
        return {split: FakeDataset(rows) for split, rows in splits.items()}

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    return calls


def test_hf_squad_preset_end_to_end_with_carved_test(monkeypatch, tmp_path):
    train = read_data_file(write_parquet(tmp_path / "train.parquet", squad_like(90)))
    validation = read_data_file(write_parquet(tmp_path / "validation.parquet", squad_like(5)))
    calls = fake_datasets(monkeypatch, {"train": train, "validation": validation})
    loaded = load_data("hf:squad", "qa", max_eval_samples=4)
    assert calls == [("rajpurkar/squad", None)]
    assert len(loaded.splits["train"]) == 80 and len(loaded.splits["test"]) == 4
    assert loaded.splits["val"] == [{"context": f"context {i}", "question": f"question {i}?",
                                     "answer": f"answer {i}"} for i in range(4)]
    assert loaded.origin.startswith("hf:rajpurkar/squad (test carved from train")


def test_hf_opus_and_cnn_presets_use_default_configs(monkeypatch, tmp_path):
    calls = fake_datasets(monkeypatch, {s: opus_like(4) for s in ("train", "validation", "test")})
    loaded = load_data("hf:Helsinki-NLP/opus-100", "translate")
    assert calls == [("Helsinki-NLP/opus-100", "bg-en")]
    assert loaded.origin == "hf:Helsinki-NLP/opus-100:bg-en"
    assert loaded.splits["test"][0] == {"source": "изречение 0", "target": "sentence 0"}
    calls = fake_datasets(monkeypatch, {s: cnn_like(4) for s in ("train", "validation", "test")})
    loaded = load_data("hf:cnn_dailymail", "summarize", max_train_samples=2)
    assert calls == [("abisee/cnn_dailymail", "3.0.0")]
    assert loaded.splits["train"] == [{"article": f"(CNN) story {i}", "summary": f"point {i}"} for i in range(2)]


def test_hf_explicit_config_and_field_flags_override_preset(monkeypatch):
    rows = [{"highlights": "h", "article": "a", "short": "s"}] * 3
    calls = fake_datasets(monkeypatch, {"train": rows, "validation": rows, "test": rows})
    loaded = load_data("hf:cnn_dailymail:2.0.0", "summarize", field_map={"summary": "short"})
    assert calls == [("abisee/cnn_dailymail", "2.0.0")]
    assert loaded.splits["val"][0] == {"article": "a", "summary": "s"}


def test_hf_non_preset_dataset_uses_plain_columns(monkeypatch):
    rows = [{"text": f"t{i}", "label": f"l{i}"} for i in range(10)]
    calls = fake_datasets(monkeypatch, {"train": rows})
    loaded = load_data("hf:someone/data:cfg", "summarize", field_map={"article": "text", "summary": "label"})
    assert calls == [("someone/data", "cfg")]
    assert [len(loaded.splits[s]) for s in SPLITS] == [8, 1, 1]


def test_hf_preset_for_another_task_is_an_error(monkeypatch):
    fake_datasets(monkeypatch, {"train": squad_like(3)})
    with pytest.raises(UsageError, match="hf:squad is a qa dataset; run it with --task qa"):
        load_data("hf:squad", "summarize")


def test_hf_without_train_split(monkeypatch):
    fake_datasets(monkeypatch, {"test": squad_like(3)})
    with pytest.raises(UsageError, match="no train split \\(splits: test\\)"):
        load_data("hf:squad", "qa")


def test_hf_load_failure_is_one_line(monkeypatch):
    fake_datasets(monkeypatch, ConnectionError("Couldn't reach 'rajpurkar/squad' on the Hub\n(offline)"))
    with pytest.raises(UsageError) as info:
        load_data("hf:squad", "qa")
    message = str(info.value)
    assert message.startswith("cannot load hf:rajpurkar/squad: Couldn't reach") and "\n" not in message


def test_hf_without_datasets_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail, installed or not
    with pytest.raises(UsageError, match=r"needs the optional 'datasets' package: pip install 'peftlab\[hf\]'"):
        load_data("hf:squad", "qa")


def test_hf_without_datasets_package_really_installed_here():
    try:
        import datasets  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match="optional 'datasets' package"):
            load_data("hf:opus100", "translate")
    else:
        pytest.skip("datasets is installed in this environment")


def test_hf_without_name():
    with pytest.raises(UsageError, match="names no dataset"):
        load_data("hf:", "qa")


# --- builtin ---------------------------------------------------------------------------------


def test_builtin_passthrough():
    for task in TASK_REGISTRY.values():
        loaded = load_data("builtin", task.name)
        assert loaded.origin == "builtin"
        for split in SPLITS:
            assert loaded.splits[split], (task.name, split)
            assert all(set(r) == set(task.fields) for r in loaded.splits[split])
            assert loaded.splits[split] == [
                {k: v.strip() for k, v in r.items()} for r in task.builtin_split(split, n=None, seed=0)]


def test_builtin_passes_sizes_and_seed(monkeypatch):
    calls = []

    def fake(task, split, n=None, seed=0):
        calls.append((task.name, split, n, seed))
        return [{"article": f"a{i}", "summary": f"s{i}"} for i in range(n or 3)]

    monkeypatch.setattr(Task, "builtin_split", fake)
    loaded = load_data("builtin", "summarize", max_train_samples=50, max_eval_samples=20, seed=7)
    assert calls == [("summarize", "train", 50, 7), ("summarize", "val", 20, 7), ("summarize", "test", 20, 7)]
    assert [len(loaded.splits[s]) for s in SPLITS] == [50, 20, 20]


def test_builtin_rejects_field_flags():
    with pytest.raises(UsageError, match="not to --data builtin"):
        load_data("builtin", "summarize", field_map={"article": "text"})
