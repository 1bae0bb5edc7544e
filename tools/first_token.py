"""How likely a run's model is to stop before it says anything: at the first generated position of
each prompt in RUN/samples.jsonl, the probability of end-of-sequence and of a newline token (the stop
rule of every task), for the run's adapted model and for the base model.

    python tools/first_token.py runs/demo/runs/last-layer

Why: an answer that stops at step one scores 0 however good the rest of the distribution is; this
shows whether a method's low quality comes from that (see README, "Why last-layer needs
--min-new-tokens").
"""

from __future__ import annotations

import statistics
import sys

import torch

from peftlab.data.tasks import get_task
from peftlab.decoding import stop_ids
from peftlab.models import load_model
from peftlab.requests import request_example
from peftlab.rundir import read_run_config
from peftlab.runs import load_run


def first_position(logits_of, examples, stops: set[int], eos: int) -> list[tuple[float, float, bool]]:
    """(P(EOS), P(newline tokens), argmax is a stop token) at the first generated position."""
    out = []
    for ex in examples:
        ids = torch.tensor([ex.input_ids])  # (1, T)
        with torch.no_grad():
            p = logits_of(ids).float().softmax(-1)  # (V,)
        out.append((p[eos].item(), p[sorted(stops - {eos})].sum().item(), int(p.argmax()) in stops))
    return out


def describe(name: str, figures: list[tuple[float, float, bool]]) -> str:
    eos, newline = [f[0] for f in figures], [f[1] for f in figures]
    return (f"{name}: P(EOS) median {statistics.median(eos):.3f} (range {min(eos):.3f}-{max(eos):.3f}); "
            f"P(newline) median {statistics.median(newline):.3f} ({min(newline):.3f}-{max(newline):.3f}); "
            f"argmax EOS or newline for {sum(f[2] for f in figures)}/{len(figures)} prompts")


def main(run: str) -> None:
    import json

    cfg = read_run_config(run)
    _, loaded, adapted = load_run(run, device="cpu", precision="fp32")
    tokenizer = loaded.tokenizer
    rows = [json.loads(line) for line in open(f"{run}/samples.jsonl", encoding="utf-8")]
    # each sample's "input" is the prompt exactly as the template rendered it: tokenized as-is
    examples = [request_example(get_task(row["task"]).name, row["input"], adapted, tokenizer,
                                max_length=cfg.data.max_length, raw=True) for row in rows]
    stops, eos = set(stop_ids(tokenizer, True)), tokenizer.eos_token_id
    print(describe("adapted", first_position(lambda ids: adapted.logits(ids, torch.ones_like(ids))[0, -1],
                                             examples, stops, eos)))
    base = load_model(cfg.model.model, device="cpu", precision="fp32").model
    print(describe("base", first_position(lambda ids: base(input_ids=ids).logits[0, -1], examples, stops, eos)))


if __name__ == "__main__":
    main(sys.argv[1])
