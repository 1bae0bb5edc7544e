"""Generation speed of peftlab's prompt-tuning decoder against the uncached path and PEFT, on the same requests.

One process, one model object, the same batches for every side:

  cached    peftlab `greedy_batch` with the per-task prefix cache (the soft prompt's keys/values computed
            once per task and gathered per row)
  uncached  the same loop recomputing the soft prompt in every batch's prefill
  peft      `PeftModel.generate` (greedy) with the same adapters written in PEFT's format, one adapter
            per task (`set_adapter`), the same left-padded batches and the same stop tokens
  mixed     peftlab with batches cut across tasks (PEFT cannot mix prompt adapters in one batch)

Requests are the built-in test rows of each task rendered with the training template. Every side
is timed `--repeats` times, interleaved so background load hits them alike; the median counts and
the figures printed are ratios to `cached`. Checks (exit 1 when one fails): cached == uncached ==
mixed token for token, and PEFT == peftlab on every row that has no padding in its batch (there
both place the soft prompt identically). Rows with padding are reported, not checked: PEFT puts the
soft prompt before the pad tokens and ignores position ids, so it may legitimately differ there.

    python bench/generation.py                      # embedded SmolLM2-135M, untrained text-init prompts
    python bench/generation.py --run runs/multi     # a trained multi-task prompt run
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from peftlab.config import MethodConfig
from peftlab.data.collate import Example, collate, encode
from peftlab.data.sources import load_data
from peftlab.data.tasks import get_task
from peftlab.decoding import PrefixCache, greedy_batch, stop_ids

TASKS = ["summarize", "qa", "translate"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="a trained prompt run (default: fresh text-init prompts on --model)")
    parser.add_argument("--model", default="default", help="base model when no --run (default: default)")
    parser.add_argument("--num-prompts", type=int, default=20, help="virtual tokens per task when no --run")
    parser.add_argument("--per-task", type=int, default=8, help="requests per task (built-in test rows)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--max-length", type=int, default=256, help="prompt tokens incl. soft prompt")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def load_side(args: argparse.Namespace):
    """(loaded, adapted, adapter_root): the model and its prompts, plus a PEFT-format adapter per task."""
    from peftlab.methods import apply_method, save_adapter
    from peftlab.models import load_model
    from peftlab.runs import adapter_dir, load_run

    if args.run:
        _, loaded, adapted = load_run(args.run, device=args.device, precision="fp32")
        if adapted.method != "prompt":
            sys.exit(f"{args.run} is a {adapted.method} run: the prefix cache is for prompt runs")
        return loaded, adapted, adapter_dir(args.run)
    loaded = load_model(args.model, device=args.device)
    adapted = apply_method(loaded, MethodConfig(method="prompt", num_prompts=args.num_prompts), TASKS).eval()
    root = Path(tempfile.mkdtemp(prefix="peftlab-bench-")) / "adapter"
    save_adapter(adapted, root, loaded.path, MethodConfig(method="prompt", num_prompts=args.num_prompts))
    return loaded, adapted, root


def requests(adapted, tokenizer, per_task: int, max_length: int) -> list[Example]:
    """Built-in test rows of every task the model serves, encoded exactly as training encodes them."""
    examples = []
    for task_id, task in enumerate(adapted.tasks):
        rows = load_data("builtin", task, max_train_samples=1, max_eval_samples=per_task).splits["test"]
        examples += [encode(r, get_task(task), tokenizer, max_length=max_length, num_virtual=adapted.num_virtual,
                            task_id=task_id) for r in rows]
    return examples


def batches(examples: list[Example], size: int, by_task: bool) -> list[list[int]]:
    """Length-sorted batches, within one task (what PEFT can serve) or across tasks (`mixed`)."""
    groups = [[i for i, e in enumerate(examples) if e.task_id == t] for t in sorted({e.task_id for e in examples})]
    out = []
    for group in groups if by_task else [list(range(len(examples)))]:
        group.sort(key=lambda i: examples[i].prompt_len)
        out += [group[k:k + size] for k in range(0, len(group), size)]
    return out


def run_peftlab(adapted, examples, plan, *, pad_id, stops, max_new_tokens, device, cached: bool) -> dict[int, list[int]]:
    """Every request's new tokens; the prefix cache (when on) is built inside the timed call."""
    prefix = PrefixCache(adapted) if cached else None
    out = {}
    for batch in plan:
        new = greedy_batch(adapted, [examples[i] for i in batch], pad_id=pad_id, stops=stops,
                           max_new_tokens=max_new_tokens, prefix=prefix)
        out.update(zip(batch, new))
    return out


def peft_model(adapted, adapter_root: Path):
    """A PeftModel over the same frozen model object, one prompt adapter per task."""
    from peft import PeftModel

    dirs = [adapter_root / t for t in adapted.tasks] if len(adapted.tasks) > 1 else [adapter_root]
    model = PeftModel.from_pretrained(adapted.model, dirs[0], adapter_name=adapted.tasks[0])
    for task, path in zip(adapted.tasks[1:], dirs[1:]):
        model.load_adapter(path, adapter_name=task)
    return model.eval()


@torch.no_grad()
def run_peft(model, tasks, examples, plan, *, pad_id, stops, max_new_tokens, device) -> dict[int, list[int]]:
    """PEFT's greedy `generate` on the same left-padded batches; output cut at the first stop token."""
    out = {}
    for batch in plan:
        model.set_adapter(tasks[examples[batch[0]].task_id])
        b = collate([examples[i] for i in batch], pad_id, left=True, prompt_only=True).to(device)
        ids = model.generate(input_ids=b.input_ids, attention_mask=b.attention_mask, max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=sorted(stops), pad_token_id=pad_id)
        for i, row in zip(batch, ids[:, b.input_ids.shape[1]:].tolist()):
            cut = next((k for k, t in enumerate(row) if t in stops), len(row))
            out[i] = row[:cut]
    return out


def padded_rows(examples: list[Example], plan: list[list[int]]) -> set[int]:
    return {i for batch in plan for i in batch if examples[i].prompt_len < max(examples[j].prompt_len for j in batch)}


def timed(sides: dict, repeats: int) -> tuple[dict[str, float], dict[str, dict]]:
    """Median seconds per side over `repeats` interleaved rounds (after one warm-up round), and outputs."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    outputs = {name: fn() for name, fn in sides.items()}  # warm-up; also the outputs we check
    for round_ in range(repeats):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        print(f"round {round_ + 1}/{repeats}: " + ", ".join(f"{n} {t[-1]:.1f} s" for n, t in times.items()),
              file=sys.stderr, flush=True)
    return {name: statistics.median(t) for name, t in times.items()}, outputs


def checks(examples, plan, outputs) -> list[tuple[str, bool]]:
    n = len(examples)
    same = lambda a, b: sum(outputs[a][i] == outputs[b][i] for i in range(n))  # noqa: E731
    padded = padded_rows(examples, plan)
    unpadded = [i for i in range(n) if i not in padded]
    peft_unpadded = sum(outputs["peft"][i] == outputs["cached"][i] for i in unpadded)
    peft_padded = sum(outputs["peft"][i] == outputs["cached"][i] for i in padded)
    return [(f"cached == uncached tokens: {same('cached', 'uncached')}/{n} requests", same("cached", "uncached") == n),
            (f"cached == mixed-task batches tokens: {same('cached', 'mixed')}/{n} requests", same("cached", "mixed") == n),
            (f"peft == peftlab on unpadded rows: {peft_unpadded}/{len(unpadded)}", peft_unpadded == len(unpadded)),
            (f"peft == peftlab on padded rows (not required): {peft_padded}/{len(padded)}", True)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    loaded, adapted, adapter_root = load_side(args)
    tok = loaded.tokenizer
    examples = requests(adapted, tok, args.per_task, args.max_length)
    per_task, mixed = batches(examples, args.batch_size, True), batches(examples, args.batch_size, False)
    kw = dict(pad_id=tok.pad_token_id, stops=stop_ids(tok), max_new_tokens=args.max_new_tokens, device=device)
    peft = peft_model(adapted, adapter_root)
    sides = {"cached": lambda: run_peftlab(adapted, examples, per_task, cached=True, **kw),
             "uncached": lambda: run_peftlab(adapted, examples, per_task, cached=False, **kw),
             "peft": lambda: run_peft(peft, adapted.tasks, examples, per_task, **kw),
             "mixed": lambda: run_peftlab(adapted, examples, mixed, cached=True, **kw)}
    seconds, outputs = timed(sides, args.repeats)
    report(args, loaded, adapted, examples, per_task, seconds, outputs)
    results = checks(examples, per_task, outputs)
    for line, ok in results:
        print(("ok    " if ok else "FAIL  ") + line)
    return 0 if all(ok for _, ok in results) else 1


def report(args, loaded, adapted, examples, plan, seconds, outputs) -> None:
    prompt_tokens = sum(e.prompt_len for e in examples)
    print(f"model {loaded.label} | {args.device} fp32 | torch threads {torch.get_num_threads()} | "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores | "
          f"{'run ' + args.run if args.run else 'untrained text-init prompts'}")
    print(f"{len(examples)} requests ({', '.join(adapted.tasks)}; {args.per_task} each) | {adapted.num_virtual} virtual "
          f"tokens | mean prompt {prompt_tokens / len(examples):.0f} tokens | batch {args.batch_size} "
          f"({len(plan)} batches) | max new tokens {args.max_new_tokens} | median of {args.repeats}")
    base = seconds["cached"]
    print(f"{'side':<10}{'seconds':>9}{'new tokens':>12}{'tokens/s':>10}{'time / cached':>15}")
    for name, s in seconds.items():
        new = sum(len(ids) for ids in outputs[name].values())
        print(f"{name:<10}{s:>9.2f}{new:>12}{new / s:>10.1f}{s / base:>15.2f}")


if __name__ == "__main__":
    sys.exit(main())
