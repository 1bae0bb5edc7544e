"""`peftlab generate`: load a run (or any PEFT adapter), turn requests into prompts, decode, answer.

One `--text` is streamed to stdout as it is decoded; `--input` JSONL requests of mixed tasks share
batches and their answers go to `--output` JSONL (or stdout). Request parsing is `requests.py`, the
decoding loop `decoding.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .config import DataConfig, GenerateConfig
from .data.collate import Example
from .requests import Request, Streamer, read_requests, request_example, resolve_task, write_answers


def served_tasks(cfg: GenerateConfig) -> list[str]:
    """The tasks a run or adapter serves, read from its files without loading the model."""
    from .rundir import read_run_config
    from .runs import adapter_tasks

    if cfg.adapter:
        return adapter_tasks(Path(cfg.adapter), cfg.task)[0]
    return read_run_config(cfg.run).data.tasks


def load_for_generate(cfg: GenerateConfig):
    """(tokenizer, adapted, max_length) from RUN or from --adapter DIR --model M; the adapted model
    knows its device and its precision (auto: bf16 where native, else fp32)."""
    from .hardware import resolve_precision
    from .models import resolve_device
    from .runs import load_adapter_dir, load_run

    if cfg.adapter:
        precision = resolve_precision(cfg.precision or "auto", resolve_device(cfg.device or "auto"))
        loaded, adapted = load_adapter_dir(cfg.adapter, cfg.model or "default", task=cfg.task,
                                           device=cfg.device or "auto", precision=precision,
                                           trust_remote_code=bool(cfg.trust_remote_code))
        return loaded.tokenizer, adapted, cfg.max_length or DataConfig().max_length
    run_cfg, loaded, adapted = load_run(cfg.run, device=cfg.device, precision=cfg.precision)
    return loaded.tokenizer, adapted, cfg.max_length or run_cfg.data.max_length


def generate(cfg: GenerateConfig) -> list[str]:
    """The `generate` command: one streamed --text, or --input JSONL -> --output JSONL (or stdout).
    Returns the generated texts, in request order."""
    from .decoding import generate_for_examples

    cfg.validate()
    tasks = served_tasks(cfg)
    if cfg.text is not None:
        resolve_task(tasks, cfg.task)  # a multi-task run without --task fails before the model loads
    tokenizer, adapted, max_length = load_for_generate(cfg)

    def build(task: str, text: str | dict) -> Example:
        return request_example(task, text, adapted, tokenizer, max_length=max_length, raw=cfg.raw)

    if cfg.text is not None:
        task = resolve_task(tasks, cfg.task)
        requests = [Request({"task": task, "text": cfg.text}, task, build(task, cfg.text))]
    else:
        requests = read_requests(cfg.input, tasks, cfg.task, build)
    streamer = Streamer(tokenizer) if cfg.text is not None else None
    outputs = generate_for_examples(adapted, tokenizer, [r.example for r in requests],
                                    max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size,
                                    stop_at_newline=not cfg.raw,
                                    prefix_cache=not cfg.no_prefix_cache, on_token=streamer)
    if streamer is not None:
        streamer.finish(outputs[0])
    elif cfg.output:
        with open(cfg.output, "w", encoding="utf-8") as out:
            write_answers(requests, outputs, out)
    else:
        write_answers(requests, outputs, sys.stdout)
    return outputs
