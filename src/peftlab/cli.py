"""`peftlab` on the command line. Flags come from the config dataclasses (`config.py`), so the CLI,
`config.json` and the Python API cannot drift apart. A `UsageError` anywhere becomes one line on
stderr and exit code 2."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import typing
from pathlib import Path

from . import __version__
from .config import PRECISIONS, DataConfig, MethodConfig, ModelConfig, RunConfig, TrainConfig
from .errors import UsageError

SECTIONS = {"model": ModelConfig, "data": DataConfig, "method": MethodConfig, "train": TrainConfig}


def _flag_type(annotation: str):
    """The scalar type of a field annotated as a string ('int | None' -> int)."""
    base = annotation.replace(" | None", "").strip()
    return {"int": int, "float": float, "str": str, "bool": bool}[base]


def add_config_flags(parser: argparse.ArgumentParser, sections=SECTIONS, skip: set[str] = frozenset()) -> None:
    for section, cls in sections.items():
        group = parser.add_argument_group(section)
        for f in dataclasses.fields(cls):
            if f.name in skip:
                continue
            flag = "--" + f.name.replace("_", "-")
            kind = _flag_type(f.type)
            extra = {"choices": f.metadata["choices"]} if "choices" in f.metadata else {}
            if kind is bool:
                group.add_argument(flag, action="store_true", default=None, help=f.metadata.get("help"))
            else:
                group.add_argument(flag, type=kind, default=None, help=f"{f.metadata.get('help')} (default: {f.default})",
                                   metavar=f.name.upper(), **extra)


def config_from_args(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """Flags the user gave override `base` (the defaults, or a saved run's config)."""
    cfg = base or RunConfig()
    for section in SECTIONS:
        part = getattr(cfg, section)
        for f in dataclasses.fields(part):
            value = getattr(args, f.name, None)
            if value is not None:
                setattr(part, f.name, value)
    return cfg


class _Parser(argparse.ArgumentParser):
    # argparse takes "-1e-3" for an option (its own pattern knows only "-1" and "-0.5"), so `--lr -1e-3`
    # would fail with "expected one argument" instead of the range error; scientific notation counts too.
    _NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = self._NEGATIVE_NUMBER

    def error(self, message: str) -> typing.NoReturn:  # one line, exit 2, like every other bad input
        self.exit(2, f"peftlab: error: {message} (see peftlab {self.prog.split()[-1]} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="peftlab", description="Fine-tune a frozen causal LM with soft prompts, LoRA or its "
                                                 "last layer, and compare what each costs and buys.")
    parser.add_argument("--version", action="version", version=f"peftlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = sub.add_parser("train", help="train one method on one task (or several tasks with prompts)")
    add_config_flags(train)
    params = sub.add_parser("params", help="count trainable and total parameters of a method on a model")
    add_config_flags(params, {"model": ModelConfig, "data": DataConfig, "method": MethodConfig},
                      skip={"data", "source_field", "target_field", "context_field", "question_field", "split_ratio",
                            "max_train_samples", "max_eval_samples", "loss_on_prompt", "task_sampling", "strict"})
    export = sub.add_parser("export", help="write a standalone HF model with a LoRA or last-layer adapter merged in",
                            usage="peftlab export --merged (RUN | --adapter DIR --model M) OUT [--overwrite]")
    export.add_argument("paths", nargs="+", metavar="RUN OUT", help="a run directory and the output directory "
                                                                   "(only OUT with --adapter)")
    export.add_argument("--merged", action="store_true", help="fold the adapter into the weights (required)")
    export.add_argument("--adapter", help="a PEFT LoRA adapter directory (or a peftlab last-layer one) instead of a run")
    export.add_argument("--model", help="with --adapter: its base model ('default', a HF id or dir, random:...)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    export.add_argument("--trust-remote-code", action="store_true", help="allow the base model's own Python code")
    export.add_argument("--precision", choices=PRECISIONS, default="auto", help="dtype of the saved weights (the merge "
                        "itself runs in fp32); auto: bf16 where this machine runs bf16 natively, else fp32")
    env = sub.add_parser("env", help="print versions, device, CPU capability, native bf16, threads and cache: what a "
                                     "bug report needs")
    env.add_argument("--json", action="store_true", help="print it as JSON")
    add_generate_parser(sub)
    add_eval_parsers(sub)
    return parser


def add_generate_parser(sub) -> None:
    gen = sub.add_parser("generate", help="generate with a trained run or any PEFT adapter: one --text (streamed) "
                                          "or --input JSONL requests of mixed tasks",
                         usage="peftlab generate (RUN | --adapter DIR [--model M]) (--text TEXT | --input FILE "
                               "[--output FILE]) [--task TASK] [--raw] [options]")
    gen.add_argument("run", nargs="?", metavar="RUN", help="a run directory (the --out of train)")
    gen.add_argument("--adapter", help="a PEFT adapter directory (LoRA / prompt tuning, or peftlab last-layer) "
                                       "instead of a run")
    gen.add_argument("--model", help="with --adapter: its base model (default 'default'; a HF id or dir, random:...)")
    gen.add_argument("--task", help="the task of --text (required when the run serves several tasks); the default "
                                    "task of --input lines without one")
    gen.add_argument("--text", help="the task's input in its own words: summarize: the article; qa: 'Context: ... "
                                    "Question: ...'; translate: the Bulgarian text; or a JSON object of the fields")
    gen.add_argument("--input", metavar="FILE", help='JSONL requests, one {"task": ..., "text": ...} per line')
    gen.add_argument("--output", metavar="FILE", help="JSONL answers: each request plus \"output\" (default: stdout)")
    gen.add_argument("--raw", action="store_true", help="feed the text as-is (no template, no special tokens) and "
                                                        "stop only at EOS, as PeftModel.generate does")
    gen.add_argument("--max-new-tokens", type=int, default=64, metavar="N", help="tokens to generate at most "
                                                                                  "(default: 64)")
    gen.add_argument("--batch-size", type=int, default=8, metavar="N", help="requests per forward (default: 8)")
    gen.add_argument("--max-length", type=int, metavar="N", help="prompt tokens incl. soft prompt; longer inputs are "
                                                                "cut as in training (default: the run's)")
    gen.add_argument("--no-prefix-cache", action="store_true", help="recompute the soft prompt's keys/values for "
                                                                    "every batch (the uncached path; same tokens)")
    gen.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the run's)")
    gen.add_argument("--precision", choices=PRECISIONS, help="default: the run's (auto with --adapter: bf16 where "
                                                             "native, else fp32)")
    gen.add_argument("--trust-remote-code", action="store_true", help="allow the base model's own Python code")


EVAL_TRAIN_FLAGS = {"batch_size", "seed"}  # the train settings eval uses: batches, and the seed of the data split


def add_eval_parsers(sub) -> None:
    evaluate = sub.add_parser("eval", help="loss on every split and task quality of a run, any PEFT adapter or the "
                                           "base model", usage="peftlab eval (RUN | --adapter DIR [--model M] | "
                                                               "--baseline) [--split test] [options]")
    evaluate.add_argument("run", nargs="?", metavar="RUN", help="a run directory; its figures are written back into it")
    evaluate.add_argument("--adapter", help="evaluate any PEFT adapter directory on --model, with --task/--data")
    evaluate.add_argument("--baseline", action="store_true", help="also score the base model with no adapter "
                                                                   "(alone: only the base model)")
    evaluate.add_argument("--out", help="with --adapter or --baseline alone: write metrics.json and samples.jsonl here")
    _add_quality_flags(evaluate)
    add_config_flags(evaluate, {"model": ModelConfig, "data": DataConfig, "train": TrainConfig},
                     skip={f.name for f in dataclasses.fields(TrainConfig)} - EVAL_TRAIN_FLAGS)
    compare = sub.add_parser("compare", help="train and evaluate each method on one task; report what each costs "
                                             "and buys", usage="peftlab compare --out DIR [--methods prompt,lora,"
                                                               "last-layer] [train flags] | --from DIR")
    compare.add_argument("--methods", help="comma-separated subset of prompt,lora,last-layer (default: all three)")
    compare.add_argument("--lr", dest="lr_spec", metavar="LR", help="one rate for every method, or per method: "
                         "prompt=0.03,lora=0.001,last-layer=0.0001 (default: those three)")
    compare.add_argument("--out", help="comparison directory: runs/<method>/, baseline/, results.json, report.md/html")
    compare.add_argument("--from", dest="from_dir", metavar="DIR", help="render DIR/results.json again (into --out, "
                                                                         "default DIR) without retraining")
    _add_quality_flags(compare)
    add_config_flags(compare, skip={"method", "lr", "out"})


def _add_quality_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("quality")
    group.add_argument("--split", help="split to generate on for quality (default: test)")
    group.add_argument("--max-new-tokens", type=int, metavar="N", help="tokens to generate at most (default per "
                                                                        "task: summarize 48, qa 16, translate 64)")
    group.add_argument("--num-beams", type=int, metavar="K", help="beam search with K beams (default: 1, greedy)")


def _eval_options(args: argparse.Namespace):
    from .evaluate import EvalOptions

    given = {k: getattr(args, k) for k in ("split", "max_new_tokens", "num_beams") if getattr(args, k) is not None}
    return EvalOptions(**given, baseline=bool(getattr(args, "baseline", False)))


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import choose_target, evaluate, format_table

    target = choose_target(args.run, args.adapter, args.task, args.baseline, args.out,
                           lambda cfg: config_from_args(args, cfg))
    print(format_table(evaluate(target, _eval_options(args))))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import CompareSpec, parse_lr, parse_methods, rerender, run_compare

    if args.from_dir:
        extra = sorted(k for k, v in vars(args).items() if v is not None and k not in ("command", "from_dir", "out"))
        if extra:
            raise UsageError(f"--from renders an existing comparison again: drop --{extra[0].replace('_', '-')}")
        rerender(args.from_dir, args.out)
        return 0
    if not args.out:
        raise UsageError("no comparison directory: pass --out DIR (or --from DIR to render one again)")
    methods = parse_methods(args.methods)
    base = config_from_args(args)
    spec = CompareSpec(base, methods, parse_lr(args.lr_spec, methods), Path(args.out).resolve(), _eval_options(args),
                       resume=bool(base.train.resume), overwrite=bool(base.train.overwrite))
    run_compare(spec)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .serve import run_generate

    return run_generate(args)


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_merged

    if not args.merged:
        raise UsageError("export writes merged models only: pass --merged (the PEFT adapter itself is RUN/adapter)")
    wanted = 1 if args.adapter else 2
    if len(args.paths) != wanted:
        raise UsageError("give RUN OUT, or OUT alone with --adapter DIR --model M")
    run = None if args.adapter else args.paths[0]
    summary = export_merged(args.paths[-1], run=run, adapter=args.adapter, model=args.model,
                            overwrite=args.overwrite, trust_remote_code=args.trust_remote_code,
                            precision=args.precision)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    metrics = train(config_from_args(args))
    print(json.dumps({k: metrics[k] for k in ("trainable_params", "total_params", "loss", "epoch_time_s",
                                              "peak_memory_mb", "train_tokens_per_s")}, indent=2))
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from .methods import apply_method
    from .models import count_params, load_model

    cfg = config_from_args(args)
    cfg.model.validate()
    cfg.data.validate()
    cfg.method.validate()
    device = "meta" if cfg.model.model.startswith("random:") else "cpu"  # counting needs shapes, not weights
    loaded = load_model(cfg.model.model, device=device, precision="fp32", trust_remote_code=cfg.model.trust_remote_code)
    adapted = apply_method(loaded, cfg.method, cfg.data.tasks)
    trainable, total = count_params(adapted)
    print(json.dumps({"trainable": trainable, "total": total, "trainable_pct": 100 * trainable / total,
                      "method": cfg.method.method, "model": loaded.label, "untrained": loaded.untrained}, indent=2))
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from .hardware import env_report, format_env

    report = env_report()
    print(json.dumps(report, indent=2) if args.json else format_env(report))
    return 0


COMMANDS = {"train": cmd_train, "params": cmd_params, "export": cmd_export, "generate": cmd_generate,
            "eval": cmd_eval, "compare": cmd_compare, "env": cmd_env}


def _quiet_library_progress_bars() -> None:
    """transformers' per-load bars ("Loading weights") would bury peftlab's own one-line output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_library_progress_bars()
    if args.command != "env":  # env reports torch's own count as found
        from .hardware import configure_threads

        configure_threads()
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"peftlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("peftlab: interrupted; resume with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
