"""Trunk caching (last-layer): later epochs replay the frozen trunk's output and change no figure.

A cached run equals the same run with `--trunk-cache-mb 0` (every logged step loss and the final
adapter, to 1e-5 in fp32), on Llama and GPT-2 blocks, in memory or spilled to the run directory, across a
resume, and with `--packing` (states captured from a packed row replay into padded rows and back); epochs 2+ never run the frozen blocks; the model is whole again after every step,
even one that raises.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from conftest import ARCHS, make_config, qa_rows, write_jsonl
from peftlab.adapted import AdaptedLM
from peftlab.data.collate import make_batch
from peftlab.errors import UsageError
from peftlab.methods.last_layer import LAST_LAYER
from peftlab.models import LoadedModel, decoder_blocks, random_config
from peftlab.pipeline import prepare
from peftlab.training import train
from peftlab.trunk_cache import NO_CACHE, TrunkCache

import peftlab.training as train_mod

pytestmark = pytest.mark.usefixtures("one_thread")
QUIET = {"announce": lambda *_: None}
EPOCHS = 3
BATCHES = 6  # 24 train rows (30 x 0.8) / batch 4
TOL = 1e-5


class Crash(Exception):
    pass


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "qa.jsonl", qa_rows(30))  # lengths vary: batches carry padding


def cached_cfg(tmp_path: Path, data: Path, out: str, **overrides):
    settings = dict(method="last-layer", task="qa", data=str(data), epochs=EPOCHS, log_every=1, lr=1e-3,
                    max_length=96)
    cfg = make_config(tmp_path, **(settings | overrides))
    cfg.train.out = str(tmp_path / out)
    return cfg


class Spy:
    """What a training run did with its trunk cache: the cache, its summary and whether its folder
    existed just before it was cleared, and how often block 0 ran with gradients on (train steps)."""

    def __init__(self, monkeypatch):
        self.caches, self.summaries, self.had_folder, self.trunk_forwards = [], [], [], 0
        original = train_mod.open_trunk_cache

        @contextlib.contextmanager
        def spying(p, run):
            block0 = decoder_blocks(p.adapted.model)[1][0]
            handle = block0.register_forward_hook(self._count)
            try:
                with original(p, run) as cache:
                    self.caches.append(cache)
                    yield cache
                    if cache is not NO_CACHE:
                        self.summaries.append(cache.summary())
                        self.had_folder.append(cache.folder.is_dir())
            finally:
                handle.remove()

        monkeypatch.setattr(train_mod, "open_trunk_cache", spying)

    def _count(self, *_):
        if torch.is_grad_enabled():  # split_loss runs under no_grad: only training forwards count
            self.trunk_forwards += 1


def step_losses(run: Path) -> list[float]:
    lines = (run / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r["event"] == "step"]


def assert_close_runs(run: Path, reference: Path) -> None:
    losses, expected = step_losses(run), step_losses(reference)
    assert len(losses) == len(expected) == EPOCHS * BATCHES
    assert max(abs(a - b) for a, b in zip(losses, expected)) <= TOL
    weights = load_file(run / "adapter" / "model.safetensors")
    reference_weights = load_file(reference / "adapter" / "model.safetensors")
    assert weights.keys() == reference_weights.keys()
    for key, value in weights.items():
        torch.testing.assert_close(value, reference_weights[key], atol=TOL, rtol=0)


@pytest.fixture(scope="module")
def uncached(tmp_path_factory, one_thread):
    """The references: the same runs (same rows as `data`) recomputing the trunk every epoch, trained
    once per module and architecture."""
    root = tmp_path_factory.mktemp("uncached")
    rows = write_jsonl(root / "qa.jsonl", qa_rows(30))
    runs: dict[str, Path] = {}

    def get(model: str) -> Path:
        if model not in runs:
            train(cached_cfg(root, rows, f"ref-{model[-5:]}", model=model, trunk_cache_mb=0), **QUIET)
            runs[model] = root / f"ref-{model[-5:]}"
        return runs[model]

    return get


# ------------------------------------------------------------------ whole runs


@pytest.mark.parametrize("model", ARCHS)
def test_cached_epochs_equal_recomputed_ones_and_skip_the_trunk(tmp_path, data, uncached, monkeypatch, model):
    reference = uncached(model)
    spy = Spy(monkeypatch)
    train(cached_cfg(tmp_path, data, "run", model=model), **QUIET)
    assert_close_runs(tmp_path / "run", reference)
    assert spy.trunk_forwards == BATCHES  # epoch 1 only: epochs 2 and 3 never ran block 0
    assert spy.summaries[0]["batches_captured"] == BATCHES
    assert spy.summaries[0]["batches_replayed"] == (EPOCHS - 1) * BATCHES
    assert spy.summaries[0]["disk_mb"] == 0 and not spy.had_folder[0]  # the default budget holds it in memory


def test_a_packed_run_equals_the_padded_one_and_replays_the_trunk(tmp_path, data, uncached, monkeypatch):
    """--packing with last-layer (Llama: no dropout, so the packed rows draw nothing the padded ones would
    not): every step's loss and the adapter as the padded run without a cache, and epochs 2+ replay."""
    reference = uncached("random:tiny-llama")
    spy = Spy(monkeypatch)
    train(cached_cfg(tmp_path, data, "run", model="random:tiny-llama", packing=True), **QUIET)
    assert_close_runs(tmp_path / "run", reference)
    assert spy.trunk_forwards == BATCHES
    assert spy.summaries[0]["batches_replayed"] == (EPOCHS - 1) * BATCHES


def test_without_a_cache_every_epoch_runs_the_trunk(tmp_path, data, monkeypatch):
    spy = Spy(monkeypatch)
    train(cached_cfg(tmp_path, data, "run", trunk_cache_mb=0), **QUIET)
    assert spy.caches == [NO_CACHE] and spy.trunk_forwards == EPOCHS * BATCHES


@pytest.mark.parametrize("model", ARCHS)
def test_spilled_to_disk_gives_the_same_run_and_leaves_no_files(tmp_path, data, uncached, monkeypatch, model):
    spy = Spy(monkeypatch)
    train(cached_cfg(tmp_path, data, "run", model=model, trunk_cache_mb=0.02), **QUIET)  # a few rows fit in memory
    assert_close_runs(tmp_path / "run", uncached(model))
    summary = spy.summaries[0]
    assert summary["memory_mb"] > 0 and summary["disk_mb"] > summary["memory_mb"]  # both stores served
    assert summary["batches_replayed"] == (EPOCHS - 1) * BATCHES and spy.had_folder[0]
    assert not (tmp_path / "run" / "trunk_cache").exists()


def test_a_failed_run_leaves_no_cache_files(tmp_path, data, monkeypatch):
    original = train_mod._after_step

    def crash_in_epoch_2(p, run, optimizer, state, *args):
        original(p, run, optimizer, state, *args)
        if state.step == BATCHES + 2:
            assert (Path(run.path) / "trunk_cache").is_dir()  # the spill folder is there while training runs
            raise Crash()

    monkeypatch.setattr(train_mod, "_after_step", crash_in_epoch_2)
    with pytest.raises(Crash):
        train(cached_cfg(tmp_path, data, "run", trunk_cache_mb=0.001), **QUIET)
    assert not (tmp_path / "run" / "trunk_cache").exists()


def test_resume_at_an_epoch_boundary_equals_uninterrupted(tmp_path, data, uncached, monkeypatch):
    """Killed after epoch 1, resumed for the rest with a cache (a different --trunk-cache-mb is no
    conflict): the resumed process starts empty, captures epoch 2 and replays epoch 3."""
    train(cached_cfg(tmp_path, data, "run", epochs=1, trunk_cache_mb=0), **QUIET)
    spy = Spy(monkeypatch)
    train(cached_cfg(tmp_path, data, "run", resume=True), **QUIET)
    assert_close_runs(tmp_path / "run", uncached("random:tiny-llama"))
    assert spy.summaries[0]["batches_captured"] == BATCHES
    assert spy.summaries[0]["batches_replayed"] == BATCHES


def test_resume_mid_epoch_2_captures_what_it_lacks(tmp_path, data, uncached, monkeypatch):
    original = train_mod._after_step

    def crash(p, run, optimizer, state, *args):
        original(p, run, optimizer, state, *args)
        if state.step == BATCHES + 3:
            raise Crash()

    with monkeypatch.context() as m:
        m.setattr(train_mod, "_after_step", crash)
        with pytest.raises(Crash):
            train(cached_cfg(tmp_path, data, "run", save_every_steps=2), **QUIET)
    spy = Spy(monkeypatch)
    train(cached_cfg(tmp_path, data, "run", save_every_steps=2, resume=True), **QUIET)
    assert_close_runs(tmp_path / "run", uncached("random:tiny-llama"))
    summary = spy.summaries[0]  # resumed after step 8: the 4 batches left of epoch 2 capture, epoch 3 mixes
    assert summary["batches_captured"] + summary["batches_replayed"] == BATCHES - 2 + BATCHES
    assert 0 < summary["batches_replayed"] < BATCHES


def test_only_last_layer_caches(tmp_path, data, monkeypatch):
    spy = Spy(monkeypatch)
    train(cached_cfg(tmp_path, data, "run", method="lora", rank=2, epochs=2), **QUIET)
    assert spy.caches == [NO_CACHE] and spy.trunk_forwards == 2 * BATCHES


def test_negative_budget_is_a_usage_error(tmp_path, data):
    with pytest.raises(UsageError, match="--trunk-cache-mb"):
        train(cached_cfg(tmp_path, data, "run", trunk_cache_mb=-1), **QUIET)


# ------------------------------------------------------------------ one step


@pytest.fixture
def prepared(tmp_path, data):
    return prepare(cached_cfg(tmp_path, data, "unused", model="random:tiny-gpt2"))


def deeper(p, arch: str, layers: int = 4) -> AdaptedLM:
    """`p`'s model rebuilt with `layers` blocks (the tiny ones have 2: no block below the trunk's end),
    last-layer applied; evaluation mode, so the trained block's dropout cannot differ between forwards."""
    from transformers import AutoModelForCausalLM

    config = random_config(arch.removeprefix("random:"))
    config.num_hidden_layers = layers
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config).requires_grad_(False).eval()
    loaded = LoadedModel(model, p.loaded.tokenizer, arch, arch, arch, untrained=True)
    return LAST_LAYER.apply(loaded, p.cfg.method, p.adapted.tasks, torch.Generator()).eval()


def batch_losses(adapted, examples, pad_id, cache, indices: list[int], packed: bool = False) -> torch.Tensor:
    batch = make_batch(examples, indices, pad_id, torch.device("cpu"))
    with cache.step(indices, batch.attention_mask):
        losses, _, _ = adapted.loss_terms(batch, packed=packed)
        losses.sum().backward()  # the backward runs inside the context, as in `train_step`
    return losses.detach()


@pytest.mark.parametrize("model", ARCHS)
def test_replayed_rows_do_not_depend_on_their_batch_and_skip_the_frozen_blocks(tmp_path, prepared, model):
    """Captured in one batch, replayed in another of a different width: the losses of a full forward,
    and blocks 0..L-2 never ran."""
    p, examples = prepared, prepared.examples["train"]
    adapted = deeper(p, model)
    blocks = decoder_blocks(adapted.model)[1]
    cache = TrunkCache(blocks, 64, tmp_path / "cache")
    calls = [0] * len(blocks)
    for i, block in enumerate(blocks):
        block.register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
    lengths = [len(e.input_ids) for e in examples]
    short, long = min(range(len(lengths)), key=lengths.__getitem__), max(range(len(lengths)), key=lengths.__getitem__)
    assert lengths[short] < lengths[long]  # the replayed batch is narrower than where `short` was captured
    batch_losses(adapted, examples, p.pad_id, cache, [short, long])
    assert calls == [1] * len(blocks)
    replayed = batch_losses(adapted, examples, p.pad_id, cache, [short])
    assert calls == [1] * (len(blocks) - 1) + [2]  # only the trained block ran
    assert cache.captured == 1 and cache.replayed == 1
    full = batch_losses(adapted, examples, p.pad_id, NO_CACHE, [short])
    torch.testing.assert_close(replayed, full, atol=TOL, rtol=0)


@pytest.mark.parametrize("model", ARCHS)
@pytest.mark.parametrize("capture_packed", [False, True])
def test_states_captured_in_one_layout_replay_in_the_other(tmp_path, prepared, model, capture_packed):
    """--packing caches each example's own states, whatever the layout: captured from a packed row (its
    shared prefix once) and replayed into padded rows, or the other way round (a resume may switch the
    flag), the losses are the full forward's in the replaying layout."""
    p, examples = prepared, prepared.examples["train"]
    adapted = deeper(p, model)
    cache = TrunkCache(decoder_blocks(adapted.model)[1], 64, tmp_path / "cache")
    indices = [0, 1, 2]
    batch = make_batch(examples, indices, p.pad_id, p.device)
    at = adapted.targets_at(batch)
    assert adapted.shared_columns(batch, at) > 0  # the packed layout holds a shared prefix to cut and lay out
    batch_losses(adapted, examples, p.pad_id, cache, indices, packed=capture_packed)
    replayed = batch_losses(adapted, examples, p.pad_id, cache, indices, packed=not capture_packed)
    assert cache.captured == 1 and cache.replayed == 1
    full = batch_losses(adapted, examples, p.pad_id, NO_CACHE, indices, packed=not capture_packed)
    torch.testing.assert_close(replayed, full, atol=TOL, rtol=0)


@pytest.mark.parametrize("replay", [False, True])
def test_the_model_is_whole_again_after_a_step_that_raises(tmp_path, prepared, replay):
    p, examples = prepared, prepared.examples["train"]
    adapted = deeper(p, "random:tiny-llama")
    name, blocks = decoder_blocks(adapted.model)
    before = list(blocks)
    cache = TrunkCache(blocks, 64, tmp_path / "cache")
    if replay:
        batch_losses(adapted, examples, p.pad_id, cache, [0, 1])
    batch = make_batch(examples, [0, 1], p.pad_id, p.device)
    with pytest.raises(Crash):
        with cache.step([0, 1], batch.attention_mask):
            adapted.loss_terms(batch)
            swapped = [a is not b for a, b in zip(blocks, before)]
            assert swapped == ([True] * (len(before) - 1) if replay else [False, False, True]) + [False]
            raise Crash()
    assert decoder_blocks(adapted.model) == (name, blocks)
    assert all(a is b for a, b in zip(blocks, before, strict=True))
    assert {n for n, _ in adapted.named_parameters()} == {n for n, _ in deeper(p, "random:tiny-llama").named_parameters()}


def test_blocks_that_do_not_return_hidden_states_are_never_replayed(tmp_path):
    """A block returning a tuple (older transformers, remote code) turns the cache off, not wrong."""

    class TupleBlock(nn.Module):
        def forward(self, hidden_states, *args, **kwargs):
            return (hidden_states + 1, None)

    blocks = nn.ModuleList([TupleBlock(), TupleBlock(), TupleBlock()])
    cache = TrunkCache(blocks, 64, tmp_path / "cache")
    mask = torch.ones(2, 3, dtype=torch.long)
    for _ in range(2):
        with cache.step([0, 1], mask):
            blocks[1](torch.zeros(2, 3, 4))
    assert not cache.usable and len(cache) == 0 and cache.captured == 1 and cache.replayed == 0
