"""`peftlab` on the command line. Flags come from the config dataclasses (`config.py`), so the CLI,
`config.json` and the Python API cannot drift apart. A `UsageError` anywhere becomes one line on
stderr and exit code 2."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing

from . import __version__
from .config import DataConfig, MethodConfig, ModelConfig, RunConfig, TrainConfig
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
    return parser


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
    loaded = load_model(cfg.model.model, device="cpu", precision="fp32", trust_remote_code=cfg.model.trust_remote_code)
    adapted = apply_method(loaded, cfg.method, cfg.data.tasks)
    trainable, total = count_params(adapted)
    print(json.dumps({"trainable": trainable, "total": total, "trainable_pct": 100 * trainable / total,
                      "method": cfg.method.method, "model": loaded.label, "untrained": loaded.untrained}, indent=2))
    return 0


COMMANDS = {"train": cmd_train, "params": cmd_params}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
