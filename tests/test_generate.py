"""Generation: request parsing, the prefix cache, stopping, merged LoRA, streaming, and `peftlab generate`."""

from __future__ import annotations

import io
import json

import pytest
import torch

from conftest import ARCHS, ROWS, spread_weights, write_jsonl
from peftlab.cli import main
from peftlab.config import MethodConfig
from peftlab.data.collate import collate, encode
from peftlab.data.tasks import get_task
from peftlab.errors import UsageError
from peftlab.decoding import PrefixCache, decode_steps, generate_for_examples, greedy_batch, prefix_cache_for
from peftlab.methods import apply_method, lora, save_adapter
from peftlab.models import load_model
from peftlab.requests import Streamer, parse_text, request_example, resolve_task

TASKS = ["summarize", "qa", "translate"]


def build(arch: str, method: str = "prompt", tasks=TASKS, **kw):
    """(tokenizer, AdaptedLM) on a spread-weight tiny model; LoRA gets a non-zero B so it changes outputs."""
    loaded = load_model(arch, device="cpu")
    spread_weights(loaded.model)
    adapted = apply_method(loaded, MethodConfig(method=method, prompt_init="random", **kw), list(tasks))
    if method == "lora":
        with torch.no_grad():
            for _, layer in lora.lora_layers(adapted.model):
                layer.lora_B.weight.normal_(0, 0.5)
    return loaded.tokenizer, adapted.eval()


def examples_for(tokenizer, adapted, tasks=TASKS, n: int = 2):
    rows = [dict(ROWS[t](n + 1)[i + 1], task=t) for i in range(n) for t in tasks]
    return [encode(r, get_task(r["task"]), tokenizer, max_length=160, num_virtual=adapted.num_virtual,
                   task_id=list(tasks).index(r["task"])) for r in rows]


# ------------------------------------------------------------------ what --text means

@pytest.mark.parametrize("task, text, expected", [
    ("qa", "Context: Ana lives in Sofia. Question: Where does Ana live?",
     {"context": "Ana lives in Sofia.", "question": "Where does Ana live?"}),
    ("qa", "Ana lives in Sofia.\nQuestion: Where?", {"context": "Ana lives in Sofia.", "question": "Where?"}),
    ("qa", "Context: The sign read 'Question: none'. Question: What did it read?",
     {"context": "The sign read 'Question: none'.", "question": "What did it read?"}),
    ("summarize", "Article: The council met.", {"article": "The council met."}),
    ("summarize", "  The council met.  ", {"article": "The council met."}),
    ("translate", "Bulgarian: Аз чета.", {"source": "Аз чета."}),
    ("qa", '{"context": "C.", "question": "Q?"}', {"context": "C.", "question": "Q?"}),
    ("translate", {"source": "Аз чета.", "target": "ignored"}, {"source": "Аз чета."}),
])
def test_parse_text(task, text, expected):
    assert parse_text(get_task(task), text) == expected


@pytest.mark.parametrize("task, text, needle", [
    ("qa", "Context: no question here", "'Question:'"),
    ("qa", "Context:  Question: Where?", "empty part"),
    ("qa", '{"context": "C."}', "'question'"),
    ("summarize", '{"article": ', "not a JSON object"),
    ("summarize", "Article:", "empty part"),
])
def test_parse_text_errors_are_one_line_with_a_fix(task, text, needle):
    with pytest.raises(UsageError) as err:
        parse_text(get_task(task), text)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("task", TASKS)
def test_a_request_gets_exactly_the_training_prompt(tokenizer, task):
    _, adapted = build_prompt_only(tokenizer)
    row = ROWS[task](3)[2]
    text = {"summarize": row.get("article"), "translate": row.get("source"),
            "qa": f"Context: {row.get('context')} Question: {row.get('question')}"}[task]
    got = request_example(task, text, adapted, tokenizer, max_length=160, raw=False)
    trained = encode(row, get_task(task), tokenizer, max_length=160, num_virtual=4, task_id=TASKS.index(task))
    assert got.input_ids == trained.input_ids[:trained.prompt_len]
    assert got.task_id == TASKS.index(task)


def test_raw_request_is_the_text_tokenized_as_is(tokenizer):
    _, adapted = build_prompt_only(tokenizer)
    got = request_example("qa", "Context: x Question: y", adapted, tokenizer, max_length=160, raw=True)
    assert got.input_ids == tokenizer("Context: x Question: y", add_special_tokens=False)["input_ids"]
    with pytest.raises(UsageError, match="raise --max-length"):
        request_example("qa", "word " * 200, adapted, tokenizer, max_length=160, raw=True)


def build_prompt_only(tokenizer):
    """A prompt model whose weights are never run: for prompt-building tests."""
    return tokenizer, apply_method(load_model("random:tiny-llama"), MethodConfig(method="prompt", num_prompts=4), TASKS)


def test_resolve_task():
    assert resolve_task(["qa"], None) == "qa"
    assert resolve_task(TASKS, "translate") == "translate"
    with pytest.raises(UsageError, match="summarize, qa, translate"):
        resolve_task(TASKS, None)
    with pytest.raises(UsageError, match="no task 'qa'"):
        resolve_task(["summarize"], "qa")


# ------------------------------------------------------------------ the decoding loop

@pytest.mark.parametrize("arch", ARCHS)
def test_prefix_cached_decoding_equals_uncached(arch):
    tokenizer, adapted = build(arch, num_prompts=5)
    examples = examples_for(tokenizer, adapted)
    batch = collate(examples, tokenizer.pad_token_id, left=True, prompt_only=True)
    kw = dict(stops=frozenset({tokenizer.eos_token_id}), max_new_tokens=8)
    plain = list(decode_steps(adapted, batch, **kw))
    cached = list(decode_steps(adapted, batch, prefix=PrefixCache(adapted), **kw))
    assert len(plain) == len(cached) == 8
    for a, b in zip(plain, cached):
        assert torch.equal(a.rows, b.rows) and torch.equal(a.ids, b.ids)
        assert (a.logits - b.logits).abs().max() <= 1e-4


def test_prefix_cache_tracks_the_prompt_weights_it_was_built_from():
    tokenizer, adapted = build("random:tiny-llama", num_prompts=3)
    examples = examples_for(tokenizer, adapted, n=1)
    kw = dict(pad_id=tokenizer.pad_token_id, stops=frozenset({tokenizer.eos_token_id}), max_new_tokens=4)
    stale = PrefixCache(adapted)
    with torch.no_grad():
        adapted.prompts.weight.mul_(-3.0)
    fresh = greedy_batch(adapted, examples, prefix=PrefixCache(adapted), **kw)
    assert fresh == greedy_batch(adapted, examples, **kw)
    assert greedy_batch(adapted, examples, prefix=stale, **kw) != fresh  # why a cache is built per call


def test_methods_without_a_shared_prefix_use_the_plain_path():
    _, adapted = build("random:tiny-llama", method="lora", tasks=["qa"])
    assert prefix_cache_for(adapted) is None
    with pytest.raises(ValueError, match="prompt-tuning"):
        PrefixCache(adapted)


def test_each_row_stops_at_its_own_stop_token_or_at_max_new_tokens():
    tokenizer, adapted = build("random:tiny-gpt2", num_prompts=2)
    examples = examples_for(tokenizer, adapted, n=1)
    kw = dict(pad_id=tokenizer.pad_token_id, prefix=PrefixCache(adapted))
    free = greedy_batch(adapted, examples, stops=frozenset({tokenizer.eos_token_id}), max_new_tokens=7, **kw)
    assert [len(ids) for ids in free] == [7, 7, 7]
    stop = next(t for t in free[0][1:] if t not in free[0][:1] and t not in free[1] + free[2])
    cut = free[0].index(stop)
    stopped = greedy_batch(adapted, examples, stops=frozenset({stop}), max_new_tokens=7, **kw)
    assert stopped == [free[0][:cut], free[1], free[2]]  # the stop token is dropped; other rows run on
    eos = frozenset({tokenizer.eos_token_id})
    assert greedy_batch(adapted, examples, stops=eos, max_new_tokens=3, **kw) == [f[:3] for f in free]


def test_lora_generates_from_merged_copies_and_leaves_the_weights_alone():
    tokenizer, adapted = build("random:tiny-llama", method="lora", tasks=["qa"], rank=4)
    examples = examples_for(tokenizer, adapted, tasks=["qa"], n=3)
    before = {k: v.clone() for k, v in adapted.model.state_dict().items()}
    texts = generate_for_examples(adapted, tokenizer, examples, max_new_tokens=6, batch_size=2,
                                  stop_at_newline=False)
    unmerged = greedy_batch(adapted, examples, pad_id=tokenizer.pad_token_id,
                            stops=frozenset({tokenizer.eos_token_id}), max_new_tokens=6)
    assert texts == [tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in unmerged]
    assert all(torch.equal(before[k], v) for k, v in adapted.model.state_dict().items())  # bit for bit
    _, layer = lora.lora_layers(adapted.model)[0]
    x = torch.randn(2, layer.lora_A.in_features)
    with_adapter = layer(x)
    with adapted.generating():  # W + dW from a copy: no adapter matmuls, the same output, W untouched
        assert all(m.merged_weight is not None and not m.merged for _, m in lora.lora_layers(adapted.model))
        assert (layer(x) - with_adapter).abs().max() <= 1e-5
    assert layer.merged_weight is None


def test_bf16_lora_generation_never_changes_the_base_weights():
    """In bf16, W + dW - dW != W: a merge/unmerge per call would drift the base model call after call."""
    loaded = load_model("random:tiny-llama", device="cpu", precision="bf16")
    adapted = apply_method(loaded, MethodConfig(method="lora", rank=4), ["qa"])
    with torch.no_grad():
        for _, layer in lora.lora_layers(adapted.model):
            layer.lora_B.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    assert adapted.precision == "bf16"
    _, layer = lora.lora_layers(adapted.model)[0]
    assert layer.delta_weight().abs().max() > 0
    frozen = {n: p.clone() for n, p in adapted.model.named_parameters() if not p.requires_grad}
    examples = examples_for(loaded.tokenizer, adapted, tasks=["qa"], n=2)
    outputs = [generate_for_examples(adapted, loaded.tokenizer, examples, max_new_tokens=4, batch_size=2)
               for _ in range(10)]
    assert all(torch.equal(p, frozen[n]) for n, p in adapted.model.named_parameters() if n in frozen)
    assert all(out == outputs[0] for out in outputs)


def test_streamer_prints_exactly_the_final_text(tokenizer):
    text = " Ана каза: «Здравей!» 🙂 and left."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    out = io.StringIO()
    streamer = Streamer(tokenizer, out)
    for k in range(1, len(ids) + 1):
        streamer([ids[:k]])
        assert "\ufffd" not in out.getvalue()
    streamer.finish(tokenizer.decode(ids, skip_special_tokens=True).strip())
    assert out.getvalue() == text.strip() + "\n"


# ------------------------------------------------------------------ PEFT on the same text

def test_raw_generation_matches_peft_prompt_tuning_generate(tmp_path, tokenizer):
    """PEFT without its KV cache is the reference: with transformers 5.24 (peft 0.21.2) PEFT's cached
    prompt-tuning `generate` parts from the uncached one after the first token, while 5.23 agreed."""
    from peft import PeftModel

    _, adapted = build("random:tiny-llama", tasks=["qa"], num_prompts=4)
    save_adapter(adapted, tmp_path / "adapter", "random:tiny-llama", MethodConfig(method="prompt", prompt_init="random"))
    text = "Context: Mira lives in Varna. Question: Where does Mira live? Answer:"
    example = request_example("qa", text, adapted, tokenizer, max_length=160, raw=True)
    ours = greedy_batch(adapted, [example], pad_id=tokenizer.pad_token_id, stops=frozenset({tokenizer.eos_token_id}),
                        max_new_tokens=8, prefix=PrefixCache(adapted))[0]
    peft_model = PeftModel.from_pretrained(adapted.model, tmp_path / "adapter").eval()
    ids = torch.tensor([example.input_ids])
    theirs = peft_model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8,
                                 do_sample=False, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id, use_cache=False)[0, ids.shape[1]:].tolist()
    assert ours == theirs and len(set(ours)) > 1


# ------------------------------------------------------------------ the command line

@pytest.fixture(scope="module")
def lora_adapter(tmp_path_factory, spread_model_dir):
    """A single-task LoRA adapter (non-zero B) for the spread tiny model, written in PEFT's format."""
    loaded = load_model(str(spread_model_dir))
    adapted = apply_method(loaded, MethodConfig(method="lora", rank=4), ["summarize"])
    with torch.no_grad():
        for _, layer in lora.lora_layers(adapted.model):
            layer.lora_B.weight.normal_(0, 0.5)
    path = tmp_path_factory.mktemp("lora") / "adapter"
    save_adapter(adapted, path, str(spread_model_dir), MethodConfig(method="lora", rank=4))
    return path, loaded.tokenizer, adapted.eval()


def test_cli_adapter_text_matches_the_library(lora_adapter, spread_model_dir, capsys):
    path, tokenizer, adapted = lora_adapter
    article = ROWS["summarize"](4)[3]["article"]
    assert main(["generate", "--adapter", str(path), "--model", str(spread_model_dir), "--text", article,
                 "--max-new-tokens", "6"]) == 0
    example = request_example("summarize", article, adapted, tokenizer, max_length=512, raw=False)
    expected = generate_for_examples(adapted, tokenizer, [example], max_new_tokens=6, batch_size=1)
    assert expected[0] and capsys.readouterr().out == expected[0] + "\n"


def test_cli_raw_feeds_the_text_untemplated(lora_adapter, spread_model_dir, tmp_path):
    path, tokenizer, adapted = lora_adapter
    write_jsonl(tmp_path / "req.jsonl", [{"text": "Once upon a time"}, {"text": "The council met"}])
    assert main(["generate", "--adapter", str(path), "--model", str(spread_model_dir), "--raw", "--input",
                 str(tmp_path / "req.jsonl"), "--output", str(tmp_path / "out.jsonl"), "--max-new-tokens", "5"]) == 0
    answers = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    examples = [request_example("summarize", a["text"], adapted, tokenizer, max_length=512, raw=True) for a in answers]
    expected = generate_for_examples(adapted, tokenizer, examples, max_new_tokens=5, batch_size=8,
                                     stop_at_newline=False)
    assert [a["output"] for a in answers] == expected
    assert [a["task"] for a in answers] == ["summarize", "summarize"]


@pytest.mark.parametrize("lines, needle", [
    (['{"text": "ok"}', "not json"], "line 2: not valid JSON"),
    (['["a list"]'], "line 1: each line must be a JSON object"),
    (['{"task": "qa", "text": "hi"}'], "line 1: this run has no task 'qa'"),
    (["", "  "], "holds no requests"),
])
def test_cli_bad_request_lines_are_named(lora_adapter, spread_model_dir, tmp_path, capsys, lines, needle):
    (tmp_path / "req.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["generate", "--adapter", str(lora_adapter[0]), "--model", str(spread_model_dir),
                 "--input", str(tmp_path / "req.jsonl")]) == 2
    last = capsys.readouterr().err.splitlines()[-1]  # after transformers' weight-loading progress bar
    assert last.startswith("peftlab: error: ") and needle in last


@pytest.mark.parametrize("argv, needle", [
    (["--text", "x"], "exactly one of them"),
    (["RUN", "--adapter", "A", "--text", "x"], "exactly one of them"),
    (["RUN"], "--text TEXT for one request or --input"),
    (["RUN", "--text", "x", "--output", "o.jsonl"], "--output goes with --input"),
    (["RUN", "--text", "x", "--model", "default"], "--model only goes with --adapter"),
    (["RUN", "--text", "x", "--max-new-tokens", "0"], "--max-new-tokens must be a positive integer"),
    (["no-such-run", "--text", "x"], "not a peftlab run"),
])
def test_cli_flag_errors(argv, needle, capsys):
    assert main(["generate", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


@pytest.mark.smoke
def test_default_model_mixed_batch_with_prefix_cache_equals_alone():
    """The real model (30 layers, GQA, tied head): mixed-task prefix-cached batch == each request alone."""
    loaded = load_model("default", device="cpu")
    adapted = apply_method(loaded, MethodConfig(method="prompt", num_prompts=8), TASKS).eval()
    examples = examples_for(loaded.tokenizer, adapted, n=1)
    kw = dict(pad_id=loaded.tokenizer.pad_token_id, stops=frozenset({loaded.tokenizer.eos_token_id}),
              max_new_tokens=6, prefix=PrefixCache(adapted))
    together = greedy_batch(adapted, examples, **kw)
    assert together == [greedy_batch(adapted, [e], **kw)[0] for e in examples]
    assert together == greedy_batch(adapted, examples, **{**kw, "prefix": None})
