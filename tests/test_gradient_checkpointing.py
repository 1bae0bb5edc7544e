"""--gradient-checkpointing: the same training as without it (losses and adapters, LoRA dropout included),
but the blocks on a gradient path really run twice per step and keep far fewer tensors for the backward;
every block's forward is back after a step, also after one that raised; a resume may switch it; and it
composes with torchrun (two ranks with it equal one process without it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import peftlab.training
from peftlab.config import RunConfig
from peftlab.data.collate import make_batch
from peftlab.models import decoder_blocks
from peftlab.pipeline import prepare
from peftlab.rundir import differing_keys
from peftlab.train_state import TrainState
from peftlab.training import train, train_step

from conftest import make_config, summarize_rows, write_jsonl

MODELS = ("random:tiny-llama", "random:tiny-gpt2")
METHODS = {"prompt": {}, "lora": {"dropout": 0.1, "rank": 4}, "last-layer": {"lr": 1e-4}}
STEPS = 3  # 12 training rows, batch 4


def trained(tmp_path: Path, data: Path, model: str, method: str, flag: bool, monkeypatch) -> tuple[list, dict, list]:
    """(step losses, adapter tensors, per block: its forwards with grad enabled) of a 3-step run."""
    counts: list[int] = []
    monkeypatch.setattr(peftlab.training, "prepare", lambda cfg: _counting(prepare(cfg), counts))
    cfg = make_config(tmp_path / ("ckpt" if flag else "plain"), data=str(data), model=model, method=method,
                      max_train_samples=12, log_every=1, gradient_checkpointing=flag, **METHODS[method])
    train(cfg, announce=lambda _: None)
    run = Path(cfg.train.out)
    losses = [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if r["event"] == "step"]
    adapter = {f"{f.parent.name}/{k}": v for f in sorted((run / "adapter").rglob("*.safetensors"))
               for k, v in load_file(f).items()}
    assert json.loads((run / "config.json").read_text())["train"]["gradient_checkpointing"] is flag
    return losses, adapter, counts


def _counting(p, counts: list[int]):
    """Count each block's forwards while grad is on (training and recompute, not the val loss), by a hook on
    its first submodule: a checkpoint's recompute calls the block's forward, not its hooks."""
    _, blocks = decoder_blocks(p.adapted.model)
    counts.extend([0] * len(blocks))
    for i, block in enumerate(blocks):
        first = next(iter(block.children()))
        first.register_forward_pre_hook(lambda *_, i=i: counts.__setitem__(i, counts[i] + torch.is_grad_enabled()))
    return p


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / "sum.jsonl", summarize_rows(16))


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("model", MODELS)
def test_checkpointed_training_equals_plain_training(tmp_path, data, model, method, monkeypatch):
    plain_losses, plain_adapter, plain_counts = trained(tmp_path, data, model, method, False, monkeypatch)
    ckpt_losses, ckpt_adapter, ckpt_counts = trained(tmp_path, data, model, method, True, monkeypatch)
    assert len(plain_losses) == STEPS
    assert ckpt_losses == pytest.approx(plain_losses, abs=1e-6, rel=0)
    assert ckpt_adapter.keys() == plain_adapter.keys()
    for key in plain_adapter:
        assert torch.allclose(ckpt_adapter[key], plain_adapter[key], atol=1e-6, rtol=0), key
    assert any(not torch.equal(v, torch.zeros_like(v)) for v in plain_adapter.values())
    # Checkpointed blocks run forward + recompute; last-layer's frozen blocks have no gradient path.
    on_path = [False] * (len(plain_counts) - 1) + [True] if method == "last-layer" else [True] * len(plain_counts)
    assert plain_counts == [STEPS] * len(plain_counts)
    assert ckpt_counts == [2 * STEPS if p else STEPS for p in on_path]


def activation_bytes(p, flag: bool) -> int:
    """Bytes of activations autograd keeps for the backward pass of the trunk's training forward (the frozen
    weights it also keeps exist anyway). A checkpointed block's tensors go to the checkpoint's own hooks,
    which hold nothing between forward and backward."""
    batch = make_batch(p.examples["train"], [0, 1, 2, 3], p.pad_id, p.device)
    weights = {q.untyped_storage().data_ptr() for q in p.adapted.parameters()}
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        if t.untyped_storage().data_ptr() not in weights:
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), p.adapted.checkpointing(flag):
        hidden = p.adapted.hidden(batch.input_ids, batch.attention_mask, batch.task_ids)  # (B, T, d)
    hidden.pow(2).sum().backward()
    return total


@pytest.mark.parametrize("method", ["prompt", "lora"])
def test_checkpointing_keeps_fewer_activations_for_the_backward(method):
    p = prepare(make_config(model="random:tiny-llama", method=method, data="builtin", max_train_samples=4,
                            max_length=256))
    p.adapted.train()
    plain, checkpointed = activation_bytes(p, False), activation_bytes(p, True)
    assert checkpointed < 0.2 * plain, (checkpointed, plain)


def test_blocks_forward_is_restored_after_a_step_and_after_one_that_raised(sum_file):
    p = prepare(make_config(data=str(sum_file), method="lora", gradient_checkpointing=True))
    p.adapted.train()
    optimizer = torch.optim.AdamW(list(p.adapted.named_trainable().values()), lr=1e-3)
    _, blocks = decoder_blocks(p.adapted.model)
    own = lambda *a, **k: type(blocks[0]).forward(blocks[0], *a, **k)  # noqa: E731 — someone else's instance forward
    blocks[0].forward = own
    seen: list[bool] = []
    blocks[1].register_forward_pre_hook(lambda m, _: seen.append("forward" in m.__dict__))

    train_step(p, optimizer, [[0, 1]], 1e-3, TrainState())
    assert seen == [True]  # it was swapped during the step ...
    assert blocks[0].__dict__["forward"] is own and "forward" not in blocks[1].__dict__  # ... and is back

    def fail(*_):
        raise RuntimeError("boom")

    blocks[1].self_attn.register_forward_pre_hook(fail)
    with pytest.raises(RuntimeError, match="boom"):
        train_step(p, optimizer, [[0, 1]], 1e-3, TrainState())
    assert blocks[0].__dict__["forward"] is own and "forward" not in blocks[1].__dict__


def test_outside_a_training_forward_nothing_is_swapped(sum_file):
    p = prepare(make_config(data=str(sum_file), method="prompt"))
    _, blocks = decoder_blocks(p.adapted.model)
    p.adapted.train(False)
    with p.adapted.checkpointing(True):
        assert all("forward" not in b.__dict__ for b in blocks)  # eval mode: no backward to save memory for
    p.adapted.train()
    with torch.no_grad(), p.adapted.checkpointing(True):
        assert all("forward" not in b.__dict__ for b in blocks)
    with p.adapted.checkpointing(True):
        assert all("forward" in b.__dict__ for b in blocks)


def test_a_resume_may_switch_it_on_or_off():
    saved, wanted = RunConfig(), RunConfig()
    wanted.train.gradient_checkpointing = True
    assert differing_keys(saved, wanted) == [] and differing_keys(wanted, saved) == []


def test_two_ranks_with_the_flag_equal_one_plain_process(tmp_path):
    """LoRA with two ranks of batch 5 and --gradient-checkpointing against one process of batch 10 without it."""
    from test_distributed import adapter, assert_close_logs, in_process, log, torchrun, train_args

    data = write_jsonl(tmp_path / "sum.jsonl", summarize_rows(30))
    two, one = tmp_path / "two", tmp_path / "one"
    torchrun(*train_args("lora", data, two, 5), "--gradient-checkpointing")
    assert in_process(train_args("lora", data, one, 10)) == 0
    ours, theirs = adapter(two), adapter(one)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.allclose(ours[key], theirs[key], atol=1e-5, rtol=0), key
    assert_close_logs(log(two), log(one))
    assert json.loads((two / "config.json").read_text())["train"]["gradient_checkpointing"] is True
