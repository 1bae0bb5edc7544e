"""`--compile`: the same training (losses, adapter) as eager, the compiled call really used during
steps, and gone from the blocks afterwards (evaluation and generation run eager)."""

from __future__ import annotations


import pytest
import torch
from safetensors.torch import load_file

from conftest import make_config, step_losses
from peftlab.compiling import CompiledBlocks
from peftlab.errors import UsageError
from peftlab.models import decoder_blocks
from peftlab.training import train


@pytest.mark.parametrize("method", ["lora"])  # one method: compiling takes ~30 s on 2 cores
def test_compiled_training_equals_eager_and_the_blocks_are_eager_again_after(tmp_path, sum_file, method):
    from torch._dynamo.utils import counters

    runs = {}
    for compile_ in (False, True):
        out = tmp_path / f"compile-{compile_}"
        cfg = make_config(tmp_path, data=str(sum_file), method=method, out=str(out), compile=compile_,
                          max_train_samples=8, log_every=1, dropout=0.0, report_to="none")
        counters.clear()
        train(cfg, announce=lambda _: None)
        runs[compile_] = out
        if compile_:
            assert counters["stats"]["unique_graphs"] >= 1  # dynamo really compiled the blocks
    eager, compiled = (step_losses(runs[k]) for k in (False, True))
    assert len(eager) == 2 and max(abs(a - b) for a, b in zip(eager, compiled)) < 1e-5
    name = "adapter_model.safetensors"
    a, b = (load_file(str(runs[k] / "adapter" / name)) for k in (False, True))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_active_sets_the_compiled_call_only_for_its_duration():
    from peftlab.models import load_model

    model = load_model("random:tiny-llama").model
    compiled = CompiledBlocks(model, torch.device("cpu"))
    _, blocks = decoder_blocks(model)
    names = [n for n, _ in model.named_parameters()]
    with pytest.raises(RuntimeError, match="inside"):
        with compiled.active():
            assert all(block._compiled_call_impl is not None for block in blocks)
            raise RuntimeError("a step failed inside")
    assert all(block._compiled_call_impl is None for block in blocks)
    assert [n for n, _ in model.named_parameters()] == names  # checkpoint keys unchanged


def test_no_compiler_is_one_clear_line(monkeypatch):
    import peftlab.compiling as compiling

    monkeypatch.setattr(compiling.shutil, "which", lambda _name: None)
    with pytest.raises(UsageError, match="--compile on CPU needs a C\\+\\+ compiler"):
        compiling.CompiledBlocks(torch.nn.Module(), torch.device("cpu"))


def test_compile_with_gradient_checkpointing_is_refused_in_one_line(tmp_path):
    cfg = make_config(tmp_path, compile=True, gradient_checkpointing=True)
    with pytest.raises(UsageError, match="do not combine yet: pick one"):
        cfg.validate()
