"""Config fields as command-line flags: their scalar types, their flag names, and the argv that
rebuilds a RunConfig — the CLI parses with these, config files are checked with them, and a launcher
that can only pass arguments (torchrun, for `compare --nproc-per-node`) starts `train` with them."""

from __future__ import annotations

import dataclasses

from .config import SECTIONS, RunConfig

SCALARS = {"int": int, "float": float, "str": str, "bool": bool}


def scalar_type(annotation: str) -> type | None:
    """The scalar type of a field annotated as a string ('int | None' -> int); None: not a scalar (a
    nested config or a mapping). The CLI makes flags of these; config files are checked against them."""
    return SCALARS.get(annotation.replace(" | None", "").strip())


def flag_name(f: dataclasses.Field) -> str:
    """The CLI flag of a config field: `metadata["flag"]`, or `--` and the name with dashes."""
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def run_argv(cfg: RunConfig) -> list[str]:
    """The `train` flags that rebuild `cfg` (the inverse of the CLI's parsing): how a config reaches a
    process started by a launcher (`compare --nproc-per-node` runs `torchrun ... -m peftlab train ARGV`).
    Only settings that differ from the defaults are written; floats as their exact repr."""
    argv: list[str] = []
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            value = getattr(getattr(cfg, section), f.name)
            if value == f.default or value is None:
                continue
            if value is True:
                argv.append(flag_name(f))
            elif value is not False:
                argv += [flag_name(f), repr(value) if isinstance(value, float) else str(value)]
    return argv
