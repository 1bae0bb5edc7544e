"""Config files: a YAML study and a run's own config.json repeat a run exactly; flags override the file;
a bad key or value is one line naming the file and the fix; --print-config shows what would run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from conftest import summarize_rows, write_jsonl
from peftlab.cli import build_parser, config_of, main
from peftlab.config import CompareConfig, EvalConfig, GenerateConfig, RunConfig
from peftlab.configfile import config_to_dict, read_config_file

pytestmark = pytest.mark.usefixtures("one_thread")

FLAGS = ["--model", "random:tiny-llama", "--device", "cpu", "--precision", "fp32", "--method", "lora", "--rank", "2",
         "--dropout", "0.1", "--max-length", "64", "--batch-size", "4", "--epochs", "2", "--lr", "0.01", "--seed", "3"]


def study_yaml(data: Path) -> str:
    """The run FLAGS describe, as a study file."""
    return f"""\
model:
  model: random:tiny-llama
  device: cpu
  precision: fp32
data:
  data: {data}
  max_length: 64
method:
  method: lora
  rank: 2
  dropout: 0.1
train:
  epochs: 2
  batch_size: 4
  lr: 0.01
  seed: 3
"""


def tensors(run: Path) -> dict:
    return {k: v.tolist() for k, v in load_file(run / "adapter" / "adapter_model.safetensors").items()}


def printed(capsys, argv: list[str]) -> dict:
    assert main(argv + ["--print-config"]) == 0
    return yaml.safe_load(capsys.readouterr().out)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "sum.jsonl", summarize_rows(16))


def test_a_yaml_study_and_a_runs_config_json_each_repeat_the_run(tmp_path, data):
    assert main(["train", *FLAGS, "--data", str(data), "--out", str(tmp_path / "flags")]) == 0
    study = tmp_path / "study.yaml"
    study.write_text(study_yaml(data))
    assert main(["train", "--config", str(study), "--out", str(tmp_path / "yaml")]) == 0
    # the run's own config.json (with its "resolved" block) under a new --out repeats it
    assert main(["train", "--config", str(tmp_path / "flags" / "config.json"), "--out", str(tmp_path / "again")]) == 0

    reference = tensors(tmp_path / "flags")
    assert tensors(tmp_path / "yaml") == reference
    assert tensors(tmp_path / "again") == reference
    recorded = [json.loads((tmp_path / name / "config.json").read_text()) for name in ("flags", "yaml", "again")]
    for raw in recorded:
        raw["train"].pop("out")
        raw.pop("resolved")
    assert recorded[0] == recorded[1] == recorded[2]


def test_a_flag_overrides_the_file_and_the_file_overrides_the_defaults(tmp_path, data, capsys):
    study = tmp_path / "study.yaml"
    study.write_text(study_yaml(data))
    cfg = printed(capsys, ["train", "--config", str(study), "--rank", "6", "--out", str(tmp_path / "r")])
    assert cfg["method"]["rank"] == 6             # the flag
    assert cfg["method"]["dropout"] == 0.1        # the file
    assert cfg["method"]["alpha"] == 16.0         # the default
    assert cfg["train"]["out"] == str(tmp_path / "r")
    assert not (tmp_path / "r").exists()          # --print-config runs nothing


def test_print_config_parses_back_to_the_resolved_config(tmp_path, data, capsys):
    study = tmp_path / "study.yaml"
    study.write_text("method: {method: prompt}\ntrain: {epochs: 3}\n")
    argv = ["train", "--config", str(study), "--task", "qa"]
    shown = printed(capsys, argv)
    resolved = config_of("train", build_parser().parse_args(argv)).with_default_lr()
    assert shown == config_to_dict(resolved)
    assert shown["train"]["lr"] == 3e-2 and shown["data"]["task"] == "qa"  # the method's lr: what would run
    again = tmp_path / "printed.yaml"
    again.write_text(yaml.safe_dump(shown))
    assert read_config_file(RunConfig, again) == resolved


@pytest.mark.parametrize("command, cls, text", [
    ("compare", CompareConfig, "methods: lora,prompt\nlr: 0.001\nquality: {num_beams: 2}\ndata: {task: qa}\n"),
    ("eval", EvalConfig, "run: runs/x\nquality: {split: val}\nsettings: {batch_size: 2, device: cpu}\n"),
    ("generate", GenerateConfig, "run: runs/x\ntext: hello\nmax_new_tokens: 4\n"),
])
def test_every_command_with_a_file_round_trips(tmp_path, capsys, command, cls, text):
    file = tmp_path / "c.yaml"
    file.write_text(text)
    shown = printed(capsys, [command, "--config", str(file)])
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(shown))
    run_fields = build_parser().parse_args([command]).run_fields
    assert read_config_file(cls, again, run_fields) == read_config_file(cls, file, run_fields)
    assert shown == config_to_dict(read_config_file(cls, file, run_fields))


def test_compare_reads_a_runs_sections_and_its_own_keys(tmp_path, capsys):
    file = tmp_path / "c.yaml"
    file.write_text("methods: lora\nlr: 0.001\ndata: {task: qa}\ntrain: {epochs: 2}\n")
    argv = ["compare", "--config", str(file), "--epochs", "3"]
    cfg = config_of("compare", build_parser().parse_args(argv))
    assert (cfg.methods, cfg.lr, cfg.run.data.task, cfg.run.train.epochs) == ("lora", "0.001", "qa", 3)


@pytest.mark.parametrize("text, message", [
    ("method:\n  rnak: 4\n", "unknown key 'method.rnak': did you mean 'rank'?"),
    ("trian: {epochs: 2}\n", "unknown key 'trian': did you mean 'train'?"),
    ("rank: 4\n", "unknown key 'rank': it belongs under 'method:'"),
    ("train: {epochs: two}\n", "'train.epochs' must be int, got 'two' (str)"),
    ("train: {epochs: true}\n", "'train.epochs' must be int, got True (bool)"),
    ("model: {precision: fp16}\n", "'model.precision' is 'fp16': use one of auto, fp32, bf16"),
    ("method: lora\n", "'method' must be a mapping of settings"),
    ("- 1\n", "must hold a mapping of settings, not a list"),
    ("model: [unclosed\n", "is not valid YAML"),
])
def test_a_bad_file_is_one_line_naming_the_file(tmp_path, capsys, text, message):
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    assert main(["train", "--config", str(file), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(file) in err and err.count("\n") == 1


def test_eval_settings_accept_only_what_eval_takes(tmp_path, capsys):
    file = tmp_path / "e.yaml"
    file.write_text("run: r\nsettings: {rank: 4}\n")  # a method setting: eval reads the run's own
    assert main(["eval", "--config", str(file), "--print-config"]) == 2
    assert "unknown key 'settings.rank'" in capsys.readouterr().err


def test_a_missing_file_and_json_files(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    file = tmp_path / "c.json"
    file.write_text(json.dumps({"method": {"method": "lora", "rank": 3}}))
    assert printed(capsys, ["train", "--config", str(file)])["method"]["rank"] == 3


def test_yaml_numbers_without_a_dot_are_floats(tmp_path, capsys):
    file = tmp_path / "c.yaml"
    file.write_text("train: {lr: 1e-3, min_delta: 0}\nmethod: {alpha: 32}\n")  # PyYAML: '1e-3' is a string
    cfg = printed(capsys, ["train", "--config", str(file)])
    assert (cfg["train"]["lr"], cfg["train"]["min_delta"], cfg["method"]["alpha"]) == (1e-3, 0.0, 32.0)
    file.write_text("train: {lr: fast}\n")
    assert main(["train", "--config", str(file)]) == 2
    assert "'train.lr' must be float or null, got 'fast' (str)" in capsys.readouterr().err


def test_the_readme_study_is_a_valid_config(tmp_path):
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    file = tmp_path / "qa-lora.yaml"
    file.write_text(block)
    cfg = read_config_file(RunConfig, file).validate()
    assert (cfg.method.method, cfg.data.task, cfg.train.early_stopping_patience, cfg.train.keep_best) == \
        ("lora", "qa", 3, True)
