"""`peftlab export --merged`: standalone HF models that `AutoModelForCausalLM.from_pretrained` loads with
the logits of the adapted model; prompt tuning refused; OUT written atomically, never clobbered."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from peftlab.cli import main
from peftlab.errors import UsageError
from peftlab.merged_export import export_merged
from peftlab.models import load_model
from peftlab.runs import load_adapter_dir, load_run
from peftlab.training import train

from conftest import make_config, summarize_rows, write_jsonl

TOL = 1e-4


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(10, 5000, (2, 10), generator=g)
    return ids, torch.ones_like(ids)


def hf_logits(path: Path, ids, mask) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, use_safetensors=True).eval()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def base_logits(arch: str, ids, mask) -> torch.Tensor:
    with torch.no_grad():
        return load_model(arch, seed=0).model(input_ids=ids, attention_mask=mask).logits


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """Real (short) peftlab training runs on tiny random models: the RUN directories users export."""
    root = tmp_path_factory.mktemp("runs")
    data = write_jsonl(root / "sum.jsonl", summarize_rows(16))
    runs = {}
    for key, arch, method in (("lora-gpt2", "random:tiny-gpt2", "lora"), ("lora-llama", "random:tiny-llama", "lora"),
                              ("last-layer-llama", "random:tiny-llama", "last-layer"),
                              ("prompt-llama", "random:tiny-llama", "prompt")):
        cfg = make_config(root / key, model=arch, method=method, data=str(data), max_train_samples=8,
                          max_eval_samples=4, rank=4, lr=5e-2, epochs=2, max_length=96)
        train(cfg)
        runs[key] = Path(cfg.train.out)
    return runs


def assert_plain_hf_dir(out: Path) -> None:
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]
    keys = set(load_file(out / "model.safetensors"))
    assert not [k for k in keys if "lora_" in k or "base_layer" in k]
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]  # no temp leftovers


@pytest.mark.parametrize("key", ["lora-gpt2", "lora-llama", "last-layer-llama"])
def test_merged_run_reloads_in_transformers_with_the_same_logits(key, trained, tmp_path, capsys):
    run, out = trained[key], tmp_path / "merged"
    rc, stdout, err = run_cli(capsys, "export", "--merged", str(run), str(out))
    assert rc == 0, err
    assert json.loads(stdout)["out"] == str(out)
    assert_plain_hf_dir(out)

    ids, mask = inputs()
    cfg, _, adapted = load_run(run, device="cpu")
    with torch.no_grad():
        ours = adapted.logits(ids, mask)
    theirs = hf_logits(out, ids, mask)
    assert (ours - base_logits(cfg.model.model, ids, mask)).abs().max() > 1e-3  # training did change the model
    assert (ours - theirs).abs().max().item() <= TOL


@pytest.mark.parametrize("key", ["lora-gpt2", "lora-llama"])
def test_merged_lora_equals_peft_merge_and_unload(key, trained, tmp_path):
    peft = pytest.importorskip("peft")
    run, out = trained[key], tmp_path / "merged"
    export_merged(out, run=run)
    arch = json.loads((run / "config.json").read_text())["model"]["model"]
    reference = peft.PeftModel.from_pretrained(load_model(arch, seed=0).model, str(run / "adapter")).merge_and_unload()
    ours = load_file(out / "model.safetensors")
    theirs = reference.state_dict()
    for name, tensor in ours.items():
        assert torch.allclose(tensor, theirs[name], atol=1e-6), name


@pytest.mark.parametrize("arch", ["random:tiny-gpt2", "random:tiny-llama"])
def test_merged_peft_adapter_with_model_matches_peft(arch, tmp_path, capsys):
    peft = pytest.importorskip("peft")
    gpt2 = arch == "random:tiny-gpt2"
    model = peft.get_peft_model(load_model(arch, seed=0).model, peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["c_attn", "c_fc"] if gpt2 else ["q_proj", "v_proj", "down_proj"],
        fan_in_fan_out=gpt2, task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn_like(p) * 0.1)
    model.save_pretrained(tmp_path / "adapter")
    ids, mask = inputs()
    with torch.no_grad():
        expected = model.eval()(input_ids=ids, attention_mask=mask).logits
    out = tmp_path / "merged"
    rc, _, err = run_cli(capsys, "export", "--merged", "--adapter", str(tmp_path / "adapter"), "--model", arch, str(out))
    assert rc == 0, err
    assert_plain_hf_dir(out)
    assert (expected - base_logits(arch, ids, mask)).abs().max() > 1e-2
    assert (hf_logits(out, ids, mask) - expected).abs().max().item() <= TOL


def test_merged_last_layer_adapter_with_model(trained, tmp_path):
    run = trained["last-layer-llama"]
    export_merged(tmp_path / "merged", adapter=run / "adapter", model="random:tiny-llama")
    ids, mask = inputs()
    _, adapted = load_adapter_dir(run / "adapter", "random:tiny-llama", device="cpu")
    with torch.no_grad():
        ours = adapted.logits(ids, mask)
    assert (hf_logits(tmp_path / "merged", ids, mask) - ours).abs().max().item() <= TOL


def test_prompt_tuning_cannot_be_merged(trained, tmp_path, capsys):
    run, out = trained["prompt-llama"], tmp_path / "merged"
    rc, _, err = run_cli(capsys, "export", "--merged", str(run), str(out))
    assert rc == 2 and err.count("\n") == 1
    assert "prompt tuning cannot be merged" in err and str(run / "adapter") in err and "PeftModel" in err
    assert not out.exists()
    rc, _, err = run_cli(capsys, "export", "--merged", "--adapter", str(run / "adapter"), "--model",
                         "random:tiny-llama", str(out))
    assert rc == 2 and "cannot be merged" in err and not out.exists()


def test_existing_out_needs_overwrite(trained, tmp_path, capsys):
    run, out = trained["lora-gpt2"], tmp_path / "merged"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    rc, _, err = run_cli(capsys, "export", "--merged", str(run), str(out))
    assert rc == 2 and "--overwrite" in err and err.count("\n") == 1
    assert (out / "keep.txt").read_text() == "mine"

    rc, _, err = run_cli(capsys, "export", "--merged", str(run), str(out), "--overwrite")
    assert rc == 0, err
    assert not (out / "keep.txt").exists()
    assert_plain_hf_dir(out)


def test_overwrite_never_deletes_the_source(trained, tmp_path):
    run = trained["lora-gpt2"]
    for out in (run, run.parent):
        with pytest.raises(UsageError, match="source"):
            export_merged(out, run=run, overwrite=True)
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    with pytest.raises(UsageError, match="source"):
        export_merged(run / "adapter", adapter=run / "adapter", model="random:tiny-gpt2", overwrite=True)


def test_a_failed_export_leaves_out_as_it_was(trained, tmp_path, monkeypatch):
    export = importlib.import_module("peftlab.merged_export")

    def boom(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "_save", boom)
    out = tmp_path / "merged"
    with pytest.raises(RuntimeError):
        export_merged(out, run=trained["lora-gpt2"])
    assert list(tmp_path.iterdir()) == []  # neither OUT nor a temp directory

    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError):
        export_merged(out, run=trained["lora-gpt2"], overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["merged"] and (out / "keep.txt").read_text() == "old"


@pytest.mark.parametrize("argv,expected", [
    (["RUN", "OUT"], "--merged"),
    (["--merged", "--adapter", "A", "OUT"], "--model"),
    (["--merged", "--adapter", "A", "--model", "M", "RUN", "OUT"], "OUT alone"),
    (["--merged", "RUN"], "RUN OUT"),
    (["--merged", "--model", "M", "RUN", "OUT"], "--model goes with --adapter"),
    (["--merged", "no-such-run", "OUT"], "not a peftlab run"),
])
def test_bad_export_arguments_are_one_line(argv, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_cli(capsys, "export", *argv)
    assert rc == 2 and expected in err and err.count("\n") == 1
    assert not (tmp_path / "OUT").exists()


def test_lora_on_a_tied_head_is_not_merged():
    """Merging into lm_head would also change the tied input embeddings; export refuses instead."""
    from peftlab.config import MethodConfig
    from peftlab.merged_export import merge_into_base
    from peftlab.methods import apply_method

    loaded = load_model("random:tiny-llama", seed=0)
    adapted = apply_method(loaded, MethodConfig(method="lora", rank=2, target_modules="lm_head"), ["summarize"])
    with pytest.raises(UsageError, match="tied"):
        merge_into_base(adapted)
