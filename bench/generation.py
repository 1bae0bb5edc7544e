"""Generation speed: peftlab's eval path against `PeftModel.generate`, on the same requests.

The reference is what users write: PEFT's `generate` (greedy) over length-sorted, left-padded batches
of --ref-batch-size (8), one task per batch (a prompt adapter per task, `set_adapter`). peftlab runs
the path `eval` and `compare` use (`evaluation.split_quality` -> `decoding.generate_ids`): one task at
a time, batches of --gen-batch-size (default: eval's), the prefix cache for prompt runs, LoRA from
merged copies of its target weights. Both sides: greedy, the same stop tokens (EOS and every token
holding a newline), at most --max-new-tokens, no min-new-tokens mask (PEFT has none).

Cases (--methods): `prompt` (fresh text-init prompts, --num-prompts virtual tokens per task) and
`lora` (r=--rank on the attention projections with a random non-zero B, so the adapter changes
outputs; PEFT computes it unmerged). `--run DIR` takes a trained prompt or LoRA run instead. With
--ablations, more peftlab sides show what each part buys (same loop on the reference's batches; the
prompt run without its prefix cache; on a CPU in fp32, plain matmuls instead of prepacked weights).

Every side runs once on a few requests to warm up, then --repeats interleaved rounds over all
requests (background load hits every side alike); the median counts, and the first round's outputs are
checked (exit 1 when a required check fails): peftlab == PEFT on every row with no padding in its
reference batch (PEFT puts a soft prompt before the padding and ignores position ids, so a padded row
may differ there; those are reported, not required), and every ablation == peftlab on every row.

    python bench/generation.py                   # embedded SmolLM2-135M, 24 summarize rows, 64 new tokens
    python bench/generation.py --ablations       # + peftlab at batch 8, + prompt without the prefix cache, + no prepacking
    python bench/generation.py --tasks summarize,qa,translate --per-task 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from peftlab.config import MethodConfig, QualityConfig
from peftlab.data.collate import Example, collate, encode
from peftlab.data.sources import load_data
from peftlab.data.tasks import get_task
from peftlab.decoding import generate_ids, stop_ids
from peftlab.prepacked import supported

METHODS = ("prompt", "lora")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default=",".join(METHODS), help="cases to run (default: prompt,lora)")
    parser.add_argument("--run", help="a trained prompt or LoRA run instead of fresh adapters on --model")
    parser.add_argument("--model", default="default", help="base model when no --run (default: default)")
    parser.add_argument("--tasks", default="summarize", help="comma-separated built-in tasks (default: summarize)")
    parser.add_argument("--per-task", type=int, default=24, help="requests per task (built-in test rows)")
    parser.add_argument("--num-prompts", type=int, default=20, help="prompt: virtual tokens per task")
    parser.add_argument("--rank", type=int, default=8, help="lora: rank r")
    parser.add_argument("--ref-batch-size", type=int, default=8, help="the reference's batch size")
    parser.add_argument("--gen-batch-size", type=int, default=QualityConfig().gen_batch_size,
                        help="peftlab's batch size (default: eval's, %(default)s)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=256, help="prompt tokens incl. soft prompt")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds (median)")
    parser.add_argument("--ablations", action="store_true", help="also time peftlab on the reference's batches, "
                                                                 "and the prompt case without its prefix cache")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                        help="weights and compute, both sides (bf16: rows may differ by rounding, so peftlab == "
                             "PEFT is reported, not required)")
    return parser.parse_args(argv)


@dataclass
class Case:
    """One method: peftlab's model and PEFT's over the same weights, and the requests both decode."""

    label: str
    adapted: object
    tokenizer: object
    peft: object
    examples: list[Example]
    tasks: list[str]
    sides: dict[str, Callable[[list[int], int], dict[int, list[int]]]] = field(default_factory=dict)


# ------------------------------------------------------------------ the two models of a case

def fresh_case(method: str, args: argparse.Namespace) -> Case:
    """peftlab's adapter on one copy of --model and PEFT's, loaded from the files peftlab writes, on
    another (PEFT's LoRA changes the model it wraps)."""
    from peftlab.methods import apply_method, lora, save_adapter
    from peftlab.models import load_model

    tasks = args.tasks.split(",")
    loaded = load_model(args.model, device=args.device, precision=args.precision)
    cfg = MethodConfig(method=method, num_prompts=args.num_prompts, rank=args.rank, dropout=0.0)
    adapted = apply_method(loaded, cfg, tasks).eval()
    if method == "lora":  # B starts at zero: give it weights, or the adapter would change nothing
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for _, layer in lora.lora_layers(adapted.model):
                layer.lora_B.weight.copy_(torch.randn(layer.lora_B.weight.shape, generator=generator) * 0.02)
    root = Path(tempfile.mkdtemp(prefix="peftlab-bench-")) / "adapter"
    save_adapter(adapted, root, loaded.path, cfg)
    base = (loaded.model if method == "prompt"
            else load_model(args.model, device=args.device, precision=args.precision).model)
    label = f"prompt ({args.num_prompts} virtual)" if method == "prompt" else f"LoRA r={args.rank}"
    return Case(label, adapted, loaded.tokenizer, peft_model(base, root, tasks, method), [], tasks)


def run_case(args: argparse.Namespace) -> Case:
    """A trained run's adapter in peftlab, and the same adapter directory in PEFT on a fresh base."""
    from peftlab.models import load_model
    from peftlab.runs import adapter_dir, load_run

    run_cfg, loaded, adapted = load_run(args.run, device=args.device, precision=args.precision)
    if adapted.method.name not in METHODS:
        sys.exit(f"{args.run} is a {adapted.method.name} run: this benchmark takes prompt or LoRA runs")
    method = adapted.method.name
    base = loaded.model if method == "prompt" else load_model(run_cfg.model.model, device=args.device,
                                                               precision=args.precision).model
    return Case(f"{method} ({args.run})", adapted.eval(), loaded.tokenizer,
                peft_model(base, adapter_dir(args.run), adapted.tasks, method), [], adapted.tasks)


def peft_model(base, root: Path, tasks: list[str], method: str):
    """A PeftModel over `base`: one prompt adapter per task (named by task), or the one LoRA adapter."""
    from peft import PeftModel

    dirs = [root / t for t in tasks] if method == "prompt" and len(tasks) > 1 else [root]
    model = PeftModel.from_pretrained(base, dirs[0], adapter_name=tasks[0])
    for task, path in zip(tasks[1:], dirs[1:]):
        model.load_adapter(path, adapter_name=task)
    return model.eval()


def requests(case: Case, tasks: list[str], per_task: int, max_length: int) -> list[Example]:
    """Built-in test rows of each task, encoded as training and eval encode them."""
    examples = []
    for task in tasks:
        rows = load_data("builtin", task, max_train_samples=1, max_eval_samples=per_task).splits["test"]
        examples += [encode(r, get_task(task), case.tokenizer, max_length=max_length,
                            num_virtual=case.adapted.num_virtual, task_id=case.adapted.tasks.index(task))
                     for r in rows]
    return examples


# ------------------------------------------------------------------ the sides

def by_task(examples: list[Example], indices: list[int]) -> list[list[int]]:
    return [[i for i in indices if examples[i].task_id == t] for t in sorted({examples[i].task_id for i in indices})]


def ref_batches(examples: list[Example], indices: list[int], size: int) -> list[list[int]]:
    """The reference's batches: per task, length-sorted, `size` rows."""
    out = []
    for group in by_task(examples, indices):
        group = sorted(group, key=lambda i: examples[i].prompt_len)
        out += [group[k:k + size] for k in range(0, len(group), size)]
    return out


def peftlab_side(case: Case, batch_size: int, prefix_cache: bool = True, prepack: bool = True):
    """`generate_ids` one task at a time, as `evaluation.split_quality` calls it."""
    def run(indices: list[int], max_new_tokens: int) -> dict[int, list[int]]:
        out = {}
        for group in by_task(case.examples, indices):
            ids = generate_ids(case.adapted, case.tokenizer, [case.examples[i] for i in group],
                               max_new_tokens=max_new_tokens, batch_size=batch_size, prefix_cache=prefix_cache,
                               prepack=prepack)
            out.update(zip(group, ids))
        return out
    return run


def peft_side(case: Case, batch_size: int, device: torch.device):
    """PEFT's greedy `generate` on the reference's batches; output cut at the first stop token."""
    stops, pad_id = stop_ids(case.tokenizer), case.tokenizer.pad_token_id

    @torch.no_grad()
    def run(indices: list[int], max_new_tokens: int) -> dict[int, list[int]]:
        out = {}
        for batch in ref_batches(case.examples, indices, batch_size):
            if len(case.peft.peft_config) > 1:
                case.peft.set_adapter(case.tasks[case.examples[batch[0]].task_id])
            b = collate([case.examples[i] for i in batch], pad_id, left=True, prompt_only=True).to(device)
            ids = case.peft.generate(input_ids=b.input_ids, attention_mask=b.attention_mask,
                                     max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=sorted(stops),
                                     pad_token_id=pad_id)
            for i, row in zip(batch, ids[:, b.input_ids.shape[1]:].tolist()):
                out[i] = row[:next((k for k, t in enumerate(row) if t in stops), len(row))]
        return out
    return run


def add_sides(case: Case, args: argparse.Namespace) -> None:
    case.sides["PEFT generate"] = peft_side(case, args.ref_batch_size, torch.device(args.device))
    case.sides["peftlab"] = peftlab_side(case, args.gen_batch_size)
    if args.ablations:
        case.sides[f"peftlab, batch {args.ref_batch_size}"] = peftlab_side(case, args.ref_batch_size)
        if case.adapted.prompts is not None:
            case.sides["peftlab, no prefix cache"] = peftlab_side(case, args.gen_batch_size, prefix_cache=False)
        if supported(case.adapted.model):
            case.sides["peftlab, no prepacking"] = peftlab_side(case, args.gen_batch_size, prepack=False)


# ------------------------------------------------------------------ timing and checks

def timed(case: Case, args: argparse.Namespace) -> tuple[dict[str, float], dict[str, dict]]:
    """Median seconds per side over `--repeats` interleaved rounds after a warm-up on a few requests,
    and each side's outputs from the first round."""
    everything = list(range(len(case.examples)))
    for run in case.sides.values():
        run(everything[:2], 2)
    times: dict[str, list[float]] = {name: [] for name in case.sides}
    outputs: dict[str, dict] = {}
    for round_ in range(args.repeats):
        for name, run in case.sides.items():
            start = time.perf_counter()
            out = run(everything, args.max_new_tokens)
            times[name].append(time.perf_counter() - start)
            outputs.setdefault(name, out)
        print(f"{case.label} round {round_ + 1}/{args.repeats}: "
              + ", ".join(f"{n} {t[-1]:.1f} s" for n, t in times.items()), file=sys.stderr, flush=True)
    return {name: statistics.median(t) for name, t in times.items()}, outputs


def checks(case: Case, outputs: dict[str, dict], ref_batch_size: int, exact: bool) -> list[tuple[str, bool]]:
    """Which rows agree; `exact` (fp32) requires peftlab == PEFT on every unpadded row (in bf16, merged
    LoRA weights and other kernels round differently, so a row may part ways)."""
    n = len(case.examples)
    plan = ref_batches(case.examples, list(range(n)), ref_batch_size)
    padded = {i for b in plan for i in b if case.examples[i].prompt_len < max(case.examples[j].prompt_len for j in b)}
    unpadded = [i for i in range(n) if i not in padded]
    ours, peft = outputs["peftlab"], outputs["PEFT generate"]
    same = lambda rows: sum(ours[i] == peft[i] for i in rows)  # noqa: E731
    results = [(f"{case.label}: peftlab == PEFT on unpadded rows{'' if exact else ' (bf16: not required)'}: "
                f"{same(unpadded)}/{len(unpadded)}", same(unpadded) == len(unpadded) or not exact),
               (f"{case.label}: peftlab == PEFT on padded rows (not required): {same(padded)}/{len(padded)}", True)]
    for name, other in outputs.items():
        if name.startswith("peftlab,"):
            equal = sum(other[i] == ours[i] for i in range(n))
            results.append((f"{case.label}: {name} == peftlab on every row: {equal}/{n}", equal == n))
    return results


def table(cases: list[tuple[Case, dict, dict]], args: argparse.Namespace) -> list[str]:
    lines = ["| method | side | batches | seconds | new tokens | new tokens/s | × PEFT |",
             "|---|---|---|---:|---:|---:|---:|"]
    for case, seconds, outputs in cases:
        reference = sum(map(len, outputs["PEFT generate"].values())) / seconds["PEFT generate"]
        for name, s in seconds.items():
            new = sum(map(len, outputs[name].values()))
            lines.append(f"| {case.label} | {name} | {batches_text(case, name, args)} | {s:.2f} | {new} | "
                         f"{new / s:.1f} | {new / s / reference:.2f} |")
    return lines


def batches_text(case: Case, side: str, args: argparse.Namespace) -> str:
    size = args.ref_batch_size if side == "PEFT generate" or side.startswith("peftlab, batch") else args.gen_batch_size
    groups = by_task(case.examples, list(range(len(case.examples))))
    counts = [len(g[k:k + size]) for g in groups for k in range(0, len(g), size)]
    return " + ".join(str(c) for c in counts) + " rows"


def header(args: argparse.Namespace, argv: list[str], case: Case) -> list[str]:
    import peft
    import transformers

    prompt = sum(e.prompt_len for e in case.examples) / len(case.examples)
    device = torch.device(args.device)
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    return ["`" + " ".join(["python", "bench/generation.py", *argv]) + "`",
            "",
            f"{args.model if not args.run else args.run} | {args.device}, {where} | {args.precision} | "
            f"torch threads {torch.get_num_threads()} | load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} "
            f"cores | torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}",
            "",
            f"{len(case.examples)} requests ({', '.join(case.tasks)} test rows, {args.per_task} per task), mean prompt "
            f"{prompt:.0f} tokens; greedy, at most {args.max_new_tokens} new tokens (stop: EOS or a newline); "
            f"median of {args.repeats} rounds", ""]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    torch.manual_seed(0)
    cases = [run_case(args)] if args.run else [fresh_case(m, args) for m in args.methods.split(",")]
    measured, results = [], []
    for case in cases:
        case.examples = requests(case, args.tasks.split(",") if not args.run else case.tasks, args.per_task,
                                 args.max_length)
        add_sides(case, args)
        seconds, outputs = timed(case, args)
        measured.append((case, seconds, outputs))
        results += checks(case, outputs, args.ref_batch_size, exact=args.precision == "fp32")
    print("\n".join(header(args, argv, cases[0]) + table(measured, args)))
    print()
    for line, ok in results:
        print(("ok    " if ok else "FAIL  ") + line)
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
