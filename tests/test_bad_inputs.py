"""Every bad input is one line on stderr, exit code 2, no traceback — and nothing is written.

The table runs `peftlab train` (in-process, through `cli.main`) against a run directory that already
holds a finished run, with `--overwrite`: a bad input must fail before that run is touched, so the
directory is compared byte for byte before and after. Crafted adapter directories (untrusted files)
are checked the same way through the loaders.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import make_config, summarize_rows, write_jsonl
from peftlab.cli import main
from peftlab.errors import UsageError

pytestmark = pytest.mark.usefixtures("one_thread")
ARCH = "random:tiny-llama"


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` with its bytes (None for directories)."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors (unknown choice, not a number)
        code = exc.code
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, one_thread) -> Path:
    """A finished run in `run/` and a good data file, shared by every case (none may change them)."""
    from peftlab.training import train

    root = tmp_path_factory.mktemp("bad-inputs")
    good = write_jsonl(root / "good.jsonl", summarize_rows(20))
    cfg = make_config(root, data=str(good), method="lora", rank=4, max_length=64, batch_size=4)
    train(cfg, announce=lambda *_: None)
    return root


def base_argv(root: Path, data: Path | str | None = None, *, out: str = "run", overwrite: bool = True) -> list[str]:
    argv = ["train", "--model", ARCH, "--device", "cpu", "--precision", "fp32", "--method", "lora", "--rank", "4", "--max-length", "64",
            "--batch-size", "4", "--data", str(data or root / "good.jsonl"), "--out", str(root / out)]
    return argv + (["--overwrite"] if overwrite else [])


def data_file(name: str, content: bytes | str):
    """A case's data file, written into the case's own directory."""
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path
    return make


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


GOOD = summarize_rows(20)
HALF_BAD = [dict(r, summary=7) if i % 2 else r for i, r in enumerate(GOOD)]
LONG_TARGET = [dict(r, summary="a very long summary " * 40) for r in GOOD]


def unreadable(tmp: Path) -> Path:
    path = tmp / "locked.jsonl"
    if os.geteuid() == 0:  # root reads anything: a path whose read fails (EIO) stands in for it
        path.symlink_to("/proc/self/mem")
    else:
        path.write_text(jsonl(GOOD))
        path.chmod(0)
    return path


# (id, data: None = the good file | a maker, extra flags, the message the line must contain)
CASES = [
    ("missing file", lambda tmp: tmp / "nope.jsonl", [], r"data not found: .*nope\.jsonl"),
    ("unreadable file", unreadable, [], r"cannot read data file .*locked\.jsonl"),
    ("wrong extension", data_file("rows.txt", jsonl(GOOD)), [], r"unsupported data file 'rows\.txt'; use one of"),
    ("not json", data_file("rows.jsonl", "article,summary\nx,y\n"), [], r"line 1 of .* is not valid JSON"),
    ("json not objects", data_file("rows.jsonl", "[1, 2]\n"), [], r"line 1 of .* is a JSON list, not an object"),
    ("empty file", data_file("empty.jsonl", ""), [], r"data file .*empty\.jsonl is empty"),
    ("blank lines only", data_file("blank.jsonl", "\n\n"), [], r"is empty"),
    ("empty split", None, ["--split-ratio", "1,0,0"], r"split 'val' .* is empty"),
    ("missing field", data_file("nosum.jsonl", jsonl([{"article": "a"}] * 5)), [],
     r"has no column 'summary' .*--target-field"),
    ("misnamed field flag", None, ["--target-field", "headline"], r"no column 'headline' .*columns: article, summary"),
    ("all values non-string", data_file("ints.jsonl", jsonl([{"article": 1, "summary": 2}] * 5)), [],
     r"no usable rows \(5 skipped; first: row 1 .* not a string \(int\)"),
    ("all values empty", data_file("blank.jsonl", jsonl([{"article": "  ", "summary": "s"}] * 5)), [],
     r"no usable rows .* is empty"),
    ("some bad rows with --strict", data_file("half.jsonl", jsonl(HALF_BAD)), ["--strict"],
     r"row 2 of .*: field 'summary' .* not a string \(int\); fix that row, or run without --strict"),
    ("invalid utf-8", data_file("latin1.jsonl", jsonl(GOOD[:3]).encode() + "é\n".encode("latin-1")), [],
     r"is not valid UTF-8 \(line 4, .*re-save it as UTF-8"),
    ("target longer than --max-length", data_file("long.jsonl", jsonl(LONG_TARGET)), [],
     r"example \(target .a very long summary.*\) needs \d+ tokens with its prompt but --max-length is 64: "
     r"raise --max-length or shorten that target"),
    ("--max-length beyond the model context", None, ["--max-length", "4096"],
     r"exceeds the model's context of 1024 tokens: use --max-length 1024 or less"),
    ("unknown task", None, ["--task", "poetry"], r"unknown task 'poetry'"),
    ("unknown method", None, ["--method", "adapterfusion"], r"invalid choice: 'adapterfusion'"),
    ("unknown random model", None, ["--model", "random:gpt5"], r"unknown random architecture 'gpt5'"),
    ("unknown model path", None, ["--model", str(Path("/nonexistent/model-dir"))], r"cannot load tokenizer"),
    ("unknown device", None, ["--device", "banana"], r"unknown --device 'banana'"),
    ("rank 0", None, ["--rank", "0"], r"--rank must be a positive integer, got 0"),
    ("rank negative", None, ["--rank", "-3"], r"--rank must be a positive integer, got -3"),
    ("rank not a number", None, ["--rank", "eight"], r"argument --rank: invalid int value: 'eight'"),
    ("alpha 0", None, ["--alpha", "0"], r"--alpha must be a finite number > 0"),
    ("alpha negative", None, ["--alpha", "-1"], r"--alpha must be a finite number > 0"),
    ("alpha infinite", None, ["--alpha", "inf"], r"--alpha must be a finite number > 0"),
    ("dropout 1", None, ["--dropout", "1"], r"--dropout must be in \[0, 1\), got 1"),
    ("dropout negative", None, ["--dropout", "-0.1"], r"--dropout must be in \[0, 1\)"),
    ("dropout nan", None, ["--dropout", "nan"], r"--dropout must be in \[0, 1\)"),
    ("lr 0", None, ["--lr", "0"], r"--lr must be a finite number > 0, got 0"),
    ("lr negative", None, ["--lr", "-0.001"], r"--lr must be a finite number > 0"),
    ("lr infinite", None, ["--lr", "inf"], r"--lr must be a finite number > 0"),
    ("num-prompts 0", None, ["--method", "prompt", "--num-prompts", "0"], r"--num-prompts must be a positive"),
    ("num-prompts >= max length", None, ["--method", "prompt", "--num-prompts", "64"],
     r"--num-prompts 64 leaves no room in --max-length 64"),
    ("batch size 0", None, ["--batch-size", "0"], r"--batch-size must be a positive integer, got 0"),
    ("batch size negative", None, ["--batch-size", "-2"], r"--batch-size must be a positive integer"),
    ("epochs 0", None, ["--epochs", "0"], r"--epochs must be a positive integer"),
    ("max-grad-norm 0", None, ["--max-grad-norm", "0"], r"--max-grad-norm must be > 0"),
    ("save-every-steps 0", None, ["--save-every-steps", "0"], r"--save-every-steps must be a positive integer"),
    ("keep-checkpoints 0", None, ["--keep-checkpoints", "0"], r"--keep-checkpoints must be a positive integer"),
    ("split ratio malformed", None, ["--split-ratio", "80,20"], r"bad --split-ratio '80,20'"),
    ("target modules match nothing", None, ["--target-modules", "attn_qkv"],
     r"--target-modules attn_qkv match no Linear/Conv1D layer: this model has .*q_proj"),
    ("several tasks with lora", None, ["--task", "summarize,qa"], r"several tasks at once need --method prompt"),
    ("resume and overwrite", None, ["--resume"], r"--resume and --overwrite contradict each other"),
]


@pytest.mark.parametrize("name,make_data,flags,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(workspace, tmp_path, capsys, name, make_data, flags,
                                                         message):
    data = make_data(tmp_path) if make_data else None
    before = snapshot(workspace)
    code, err = run_cli(base_argv(workspace, data) + flags, capsys)
    assert code == 2
    assert err.startswith("peftlab: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert snapshot(workspace) == before  # the finished run survived --overwrite, byte for byte


def test_some_bad_rows_are_skipped_with_a_count(workspace, tmp_path, capsys):
    """Without --strict, a file where only some rows are bad trains on the rest and says how many it
    dropped — in the banner and in metrics.json."""
    data = data_file("half.jsonl", jsonl(HALF_BAD))(tmp_path)
    argv = base_argv(tmp_path, data, out="skips", overwrite=False)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "10 bad rows skipped" in out
    metrics = json.loads((tmp_path / "skips" / "metrics.json").read_text())
    assert metrics["data"]["skipped"] == {"summarize": {"train": 10, "val": 0, "test": 0}}


def test_existing_run_is_refused_without_overwrite_or_resume(workspace, capsys):
    before = snapshot(workspace)
    code, err = run_cli(base_argv(workspace, overwrite=False), capsys)
    assert code == 2
    assert "already holds a run: pass --resume to continue it or --overwrite to replace it" in err
    assert snapshot(workspace) == before


def test_resume_with_other_settings_names_the_differing_keys(workspace, capsys):
    before = snapshot(workspace)
    argv = base_argv(workspace, overwrite=False) + ["--resume", "--rank", "2", "--lr", "0.1", "--seed", "3"]
    code, err = run_cli(argv, capsys)
    assert code == 2
    assert "differs from the run's in method.rank, train.lr, train.seed: use the original flags" in err
    assert snapshot(workspace) == before


def test_resume_of_a_run_with_a_broken_config_is_one_line(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", GOOD)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{not json")
    before = snapshot(tmp_path / "run")
    code, err = run_cli(base_argv(tmp_path, data, overwrite=False) + ["--resume"], capsys)
    assert code == 2 and "config.json is not a valid run config" in err and err.count("\n") == 1
    assert snapshot(tmp_path / "run") == before


@pytest.mark.parametrize("flags", [["--rank", "0"], ["--data", "/nope.jsonl"], ["--target-modules", "nope"]])
def test_bad_input_creates_no_run_directory(tmp_path, capsys, flags):
    data = write_jsonl(tmp_path / "d.jsonl", GOOD)
    code, _ = run_cli(base_argv(tmp_path, data, out="fresh", overwrite=False) + flags, capsys)
    assert code == 2
    assert not (tmp_path / "fresh").exists()


def test_cli_process_prints_one_line_and_exits_2(tmp_path):
    """The real executable: exit status 2, exactly one line on stderr, nothing on stdout."""
    data = write_jsonl(tmp_path / "d.jsonl", GOOD)
    proc = subprocess.run([sys.executable, "-m", "peftlab.cli", *base_argv(tmp_path, data, overwrite=False),
                           "--dropout", "1.5"], capture_output=True, text=True,
                          env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    assert proc.stderr == "peftlab: error: --dropout must be in [0, 1), got 1.5\n"
    assert proc.stdout == ""
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------ untrusted files


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, one_thread) -> dict[str, Path]:
    """Untrained adapters of each method on tiny-llama, as `save_adapter` writes them."""
    from peftlab.methods import save_adapter
    from peftlab.config import MethodConfig
    from peftlab.methods import apply_method
    from peftlab.models import load_model

    root = tmp_path_factory.mktemp("adapters")
    out = {}
    for method in ("lora", "prompt", "last-layer"):
        cfg = MethodConfig(method=method, rank=4)
        adapted = apply_method(load_model(ARCH), cfg, ["summarize"])
        out[method] = save_adapter(adapted, root / method, ARCH, cfg)[0]
    return out


def crafted(adapters: dict[str, Path], tmp: Path, method: str, change) -> Path:
    """A copy of an adapter dir whose JSON config went through `change` (a dict update or a function
    returning the new file bytes)."""
    target = tmp / f"crafted-{method}"
    shutil.copytree(adapters[method], target)
    name = "peftlab_adapter.json" if method == "last-layer" else "adapter_config.json"
    config = json.loads((target / name).read_text())
    if callable(change):
        (target / name).write_bytes(change(config))
    else:
        (target / name).write_text(json.dumps(config | change))
    return target


CRAFTED = [
    ("r as string", "lora", {"r": "8"}, r"field 'r' is '8': expected int"),
    ("r as bool", "lora", {"r": True}, r"field 'r' is True: expected int"),
    ("r negative", "lora", {"r": -4}, r"field 'r' = -4 is out of range"),
    ("r huge", "lora", {"r": 10**12}, r"field 'r' = 1000000000000 is out of range"),
    ("r not the weights' rank", "lora", {"r": 60000}, r"has r=60000 but its lora_A tensors have rank 4"),
    ("alpha as list", "lora", {"lora_alpha": [16]}, r"field 'lora_alpha' is \[16\]"),
    ("dropout as string", "lora", {"lora_dropout": "0.1"}, r"field 'lora_dropout'"),
    ("dropout out of range", "lora", {"lora_dropout": 5.0}, r"field 'lora_dropout' = 5.0 is out of range"),
    ("path-like target", "lora", {"target_modules": ["../../x"]}, r"target_modules \['\.\./\.\./x'\] must be a list"),
    ("absolute path target", "lora", {"target_modules": ["/etc/passwd"]}, r"must be a list of module names"),
    ("non-string target", "lora", {"target_modules": [1]}, r"must be a list of module names"),
    ("empty targets", "lora", {"target_modules": []}, r"must be a list of module names"),
    ("peft_type a list", "lora", {"peft_type": ["LORA"]}, r"adapter type \['LORA'\] is not supported"),
    ("peft_type unknown", "lora", {"peft_type": "IA3"}, r"adapter type 'IA3' is not supported"),
    ("huge num_virtual_tokens", "prompt", {"num_virtual_tokens": 10**9}, r"'num_virtual_tokens' = 1000000000 is out"),
    ("num_virtual_tokens float", "prompt", {"num_virtual_tokens": 5.0}, r"'num_virtual_tokens' is 5.0: expected int"),
    ("token_dim of another width", "prompt", {"token_dim": 128}, r"token_dim 128 does not match the model's width 64"),
    ("token_dim as string", "prompt", {"token_dim": "64"}, r"field 'token_dim' is '64'"),
    ("config a JSON list", "lora", lambda c: b"[1, 2, 3]", r"must hold a JSON object"),
    ("config a JSON string", "prompt", lambda c: b'"LORA"', r"must hold a JSON object"),
    ("config not UTF-8", "lora", lambda c: b'{"peft_type": "LORA\xff\xfe"}', r"is not valid JSON"),
    ("config truncated", "lora", lambda c: json.dumps(c).encode()[:40], r"is not valid JSON"),
    ("last-layer type unknown", "last-layer", {"peftlab_type": "EVERYTHING"}, r"adapter type 'EVERYTHING'"),
]


@pytest.mark.parametrize("name,method,change,message", CRAFTED, ids=[c[0] for c in CRAFTED])
def test_crafted_adapter_config_is_rejected_cleanly(adapters, tmp_path, name, method, change, message):
    from peftlab.runs import load_adapter_dir

    path = crafted(adapters, tmp_path, method, change)
    before = snapshot(path)
    with pytest.raises(UsageError, match=message):
        load_adapter_dir(path, ARCH, device="cpu")
    assert snapshot(path) == before


@pytest.mark.parametrize("where", ["safetensors metadata", "adapter_config.json"])
def test_crafted_prompt_task_name_is_rejected(adapters, tmp_path, where):
    """A prompt adapter names the task it serves (metadata; older runs: the config): a path-like name
    must be refused, not used."""
    from safetensors.torch import load_file, save_file

    from peftlab.runs import load_adapter_dir

    path = crafted(adapters, tmp_path, "prompt", {"peftlab_task": "../../etc"} if where == "adapter_config.json" else {})
    weights = load_file(path / "adapter_model.safetensors")
    metadata = {"format": "pt"} | ({"peftlab_task": "../../etc"} if where == "safetensors metadata" else {})
    save_file(weights, path / "adapter_model.safetensors", metadata=metadata)
    with pytest.raises(UsageError, match=r"unknown task '\.\./\.\./etc'"):
        load_adapter_dir(path, ARCH, device="cpu")


@pytest.mark.parametrize("method", ["lora", "last-layer"])
def test_adapter_for_another_architecture_is_rejected(adapters, method):
    from peftlab.runs import load_adapter_dir

    with pytest.raises(UsageError, match="another architecture|does not have|other block weights|base model"):
        load_adapter_dir(adapters[method], "random:tiny-gpt2", device="cpu")


def test_adapter_weights_of_another_width_are_rejected(adapters, tmp_path):
    from safetensors.torch import load_file, save_file

    from peftlab.runs import load_adapter_dir

    path = crafted(adapters, tmp_path, "lora", {})
    weights = {k: torch.zeros(v.shape[0], 2 * v.shape[1]) if "lora_A" in k else v
               for k, v in load_file(path / "adapter_model.safetensors").items()}
    save_file(weights, path / "adapter_model.safetensors")
    with pytest.raises(UsageError, match="another model width"):
        load_adapter_dir(path, ARCH, device="cpu")


@pytest.mark.parametrize("damage", ["pickle only", "truncated safetensors"])
def test_adapter_weights_must_be_safetensors(adapters, tmp_path, damage):
    from peftlab.runs import load_adapter_dir

    path = crafted(adapters, tmp_path, "lora", {})
    weights = path / "adapter_model.safetensors"
    if damage == "pickle only":
        weights.unlink()
        (path / "adapter_model.bin").write_bytes(b"\x80\x04 would run code if unpickled")
        match = r"is missing: an adapter needs its safetensors weights \(peftlab reads no \.bin\)"
    else:
        weights.write_bytes(weights.read_bytes()[:30])
        match = r"is not a readable safetensors file"
    with pytest.raises(UsageError, match=match):
        load_adapter_dir(path, ARCH, device="cpu")


def test_remote_code_stays_off_unless_asked(monkeypatch):
    """A hub/local model is loaded with trust_remote_code=False unless --trust-remote-code is given."""
    import transformers

    from peftlab.config import RunConfig
    from peftlab.models import load_model

    seen = []

    def refuse(name, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        raise OSError("stop here")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    assert RunConfig().model.trust_remote_code is False
    for flag in (False, True):
        with pytest.raises(UsageError):
            load_model("/some/local/model", trust_remote_code=flag)
    assert seen == [False, True]
