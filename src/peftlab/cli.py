"""`peftlab` on the command line. Every command's flags are generated from its config dataclass
(`config.py`: `RunConfig` for train, `EvalConfig`, `GenerateConfig`, `CompareConfig`, `ExportConfig`),
so the CLI, `config.json` and the Python API cannot drift apart; the commands themselves are
`commands.py`. A `UsageError` anywhere becomes one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import typing
from dataclasses import dataclass, field

from . import __version__
from .config import (
    EVAL_TRAIN_FIELDS, SECTIONS, CompareConfig, EnvConfig, EvalConfig, ExportConfig, GenerateConfig, RunConfig,
    RunsConfig, TrainConfig, set_fields,
)
from .errors import UsageError
from .flags import flag_name, scalar_type


def add_flags(parser, cls, skip: typing.Collection[str] = ()) -> list[str]:
    """One flag (or positional) per scalar field of dataclass `cls`; returns the names added."""
    added = []
    for f in dataclasses.fields(cls):
        kind = scalar_type(f.type)  # None: not a flag
        if f.name in skip or kind is None:
            continue
        meta, help_text = f.metadata, f.metadata.get("help")
        if meta.get("positional"):
            parser.add_argument(f.name, nargs=meta.get("nargs", "?"), metavar=meta.get("metavar", f.name.upper()),
                                help=help_text)
        elif kind is bool:
            parser.add_argument(_flag(f), dest=f.name, action="store_true", default=None, help=help_text)
        else:
            if f.default is not None and "(default" not in help_text:
                help_text = f"{help_text} (default: {f.default})"
            extra = {"choices": meta["choices"]} if "choices" in meta else {}
            parser.add_argument(_flag(f), dest=f.name, type=kind, default=None, help=help_text,
                                metavar=meta.get("metavar", f.name.upper()), **extra)
        added.append(f.name)
    return added


def _flag(f: dataclasses.Field) -> str:
    return flag_name(f)


def add_run_flags(parser: argparse.ArgumentParser, sections: typing.Iterable[str] = SECTIONS,
                  skip: typing.Collection[str] = ()) -> None:
    """The flags of RunConfig's `sections`, one argument group each; the names are remembered so that
    `run_settings` takes exactly these from the parsed arguments."""
    names: list[str] = []
    for section in sections:
        names += add_flags(parser.add_argument_group(section), SECTIONS[section], skip)
    parser.set_defaults(run_fields=tuple(names))


def run_settings(args: argparse.Namespace) -> dict[str, typing.Any]:
    """The RunConfig settings the user gave, by name."""
    return {name: getattr(args, name) for name in getattr(args, "run_fields", ()) if getattr(args, name) is not None}


def config_from_args(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """Flags the user gave override `base` (the defaults, or a saved run's config)."""
    return set_fields(base or RunConfig(), run_settings(args))


def from_args(cls, args: argparse.Namespace, base=None):
    """An instance of command config `cls` from parsed flags: nested configs built the same way, a
    `RunConfig` from the run flags, `settings` as the run flags given; a flag not given keeps the
    value in `base` (a --config file's), else the field's default."""
    if cls is RunConfig:
        return config_from_args(args, base)
    values: dict[str, typing.Any] = {}
    for f in dataclasses.fields(cls):
        kept = getattr(base, f.name) if base is not None else None
        if f.default_factory is RunConfig:
            values[f.name] = config_from_args(args, kept)
        elif f.name == "settings":
            values[f.name] = dict(kept or {}) | run_settings(args)
        elif dataclasses.is_dataclass(f.default_factory):
            values[f.name] = from_args(f.default_factory, args, kept)
        elif getattr(args, f.name, None) is not None:
            values[f.name] = getattr(args, f.name)
        elif base is not None:
            values[f.name] = kept
    return cls(**values)


def config_of(command: str, args: argparse.Namespace):
    """The command's config: its --config file (if any) under the flags given."""
    cls = SUBCOMMANDS[command].config
    base = None
    if getattr(args, "config_file", None):
        from .configfile import read_config_file

        base = read_config_file(cls, args.config_file, getattr(args, "run_fields", ()))
    return from_args(cls, args, base)


def print_config(cfg) -> int:
    """--print-config: what would run, defaults included (a train run's learning rate resolved)."""
    from .configfile import dump_yaml

    print(dump_yaml(cfg.with_default_lr() if isinstance(cfg, RunConfig) else cfg), end="")
    return 0


# ------------------------------------------------------------------ the parser

@dataclass
class Subcommand:
    help: str
    config: type
    usage: str | None = None
    sections: tuple[str, ...] = ()           # RunConfig sections whose flags it takes
    skip: frozenset = field(default_factory=frozenset)  # ... except these
    files: bool = False                      # takes --config FILE and --print-config


EVAL_SKIP = frozenset(f.name for f in dataclasses.fields(TrainConfig)) - set(EVAL_TRAIN_FIELDS)
PARAMS_SKIP = frozenset({"data", "source_field", "target_field", "context_field", "question_field", "split_ratio",
                         "max_train_samples", "max_eval_samples", "loss_on_prompt", "task_sampling", "strict",
                         "data_seed"})

SUBCOMMANDS = {
    "train": Subcommand("train one method on one task (or several tasks with prompts)", RunConfig,
                        sections=tuple(SECTIONS), files=True),
    "params": Subcommand("count trainable and total parameters of a method on a model", RunConfig,
                         sections=("model", "data", "method"), skip=PARAMS_SKIP),
    "export": Subcommand("write a standalone HF model with a LoRA or last-layer adapter merged in", ExportConfig,
                         usage="peftlab export --merged (RUN | --adapter DIR --model M) OUT [--overwrite]"),
    "generate": Subcommand("generate with a trained run or any PEFT adapter: one --text (streamed) or --input JSONL "
                           "requests of mixed tasks", GenerateConfig,
                           usage="peftlab generate (RUN | --adapter DIR [--model M]) (--text TEXT | --input FILE "
                                 "[--output FILE]) [--task TASK] [--raw] [options]", files=True),
    "eval": Subcommand("loss on every split and task quality of a run, any PEFT adapter or the base model", EvalConfig,
                       usage="peftlab eval (RUN | --adapter DIR [--model M] | --baseline) [--split test] [options]",
                       sections=("model", "data", "train"), skip=EVAL_SKIP, files=True),
    "compare": Subcommand("train and evaluate each method on one task; report what each costs and buys", CompareConfig,
                          usage="peftlab compare --out DIR [--methods prompt,lora,last-layer] [train flags] | --from DIR",
                          sections=tuple(SECTIONS), skip=frozenset({"method", "lr", "out"}), files=True),
    "env": Subcommand("print versions, device, CPU capability, native bf16, threads and cache: what a bug report "
                      "needs", EnvConfig),
    "runs": Subcommand("list the runs below DIR: method, tasks, epochs, val loss, quality, finished / interrupted / "
                       "failed", RunsConfig),
}


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
    for name, command in SUBCOMMANDS.items():
        child = sub.add_parser(name, help=command.help, usage=command.usage)
        if command.config is not RunConfig:
            add_flags(child, command.config)
            for f in dataclasses.fields(command.config):
                if dataclasses.is_dataclass(f.default_factory) and f.default_factory is not RunConfig:
                    add_flags(child.add_argument_group(f.name), f.default_factory)
        add_run_flags(child, command.sections, command.skip)
        if command.files:
            add_file_flags(child)
    return parser


def add_file_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("config file")
    group.add_argument("--config", dest="config_file", metavar="FILE",
                       help="read settings from a YAML or JSON file (a run's config.json repeats the run); "
                            "flags given here override it")
    group.add_argument("--print-config", action="store_true",
                       help="print the resolved config as YAML (defaults included) and exit without running")


def _quiet_library_progress_bars() -> None:
    """transformers' per-load bars ("Loading weights") would bury peftlab's own one-line output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    from .commands import CONSOLE

    args = build_parser().parse_args(argv)
    _quiet_library_progress_bars()
    if args.command != "env":  # env reports torch's own thread count as it finds it
        from .hardware import configure_threads

        configure_threads()
    try:
        cfg = config_of(args.command, args)
        if getattr(args, "print_config", False):
            return print_config(cfg)
        return CONSOLE[args.command](cfg)
    except UsageError as exc:
        print(f"peftlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("peftlab: interrupted; resume with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
