"""`python -m algos.NAME --help`: a command line generated from an algorithm's Config dataclass.

Every field becomes a flag whose help is the docstring written under the field, so the dataclass
stays the one place where a hyperparameter, its paper default and its meaning are written down.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable

from common.config import config_from_dict, field_type

from core.errors import ConfigError
from core.files import path_part


def field_docs(config_class: type) -> dict[str, str]:
    """The string literal written under each field, collected over the class and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for statement, following in zip(body, body[1:]):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the module docstring's own line breaks."""


def default_text(config_class: type, name: str, resolved: object | None) -> str:
    """What --help says a field will be: for the environment given with --env-id, the resolved value;
    otherwise the default, and every preset that replaces it."""
    if resolved is not None:
        return f"(for {resolved.env_id}, preset {resolved.preset}: {getattr(resolved, name)})"
    default = next(f.default for f in dataclasses.fields(config_class) if f.name == name)
    others = [f"{preset} {values[name]}" for preset, values in config_class.PRESETS.items()
              if name in values and values[name] != default]
    return f"(default: {default}" + (f"; preset {', '.join(others)})" if others else ")")


def build_parser(config_class: type, prog: str, description: str, env_id: str | None = None,
                 preset: str = "auto") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=_HelpFormatter,
        usage="%(prog)s [--env-id ID] [--preset NAME] [--HYPERPARAMETER VALUE ...] [--seed N] [--run-dir DIR] [--resume]")
    resolved = None
    if env_id is not None:
        try:
            resolved = config_class(env_id=env_id, preset=preset)
        except ConfigError:
            pass  # the run itself reports the bad id
    docs = field_docs(config_class)
    title = "hyperparameters (defaults are the paper's unless noted"
    title += "; with --env-id, --help shows the values the run will use)" if resolved is None else \
        f"; shown: the values a run on {env_id} uses)"
    hyper = parser.add_argument_group(title)
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        kind = field_type(config_class, field.name)
        # Options not given stay absent, so that a preset can tell them from explicit ones.
        help_text = f"{docs.get(field.name)} {default_text(config_class, field.name, resolved)}"
        if kind is bool:
            hyper.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text)
        else:
            hyper.add_argument(flag, type=kind, default=argparse.SUPPRESS, metavar=kind.__name__.upper(), help=help_text)
    parser.epilog = "presets (auto: " + (config_class.preset_for.__doc__ or "by environment family").strip() + "):\n"
    parser.epilog += "\n".join(f"  {name}: {values or 'the defaults above'}" for name, values in config_class.PRESETS.items())
    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=int, default=1, help="seeds torch, numpy and the environments (default: 1)")
    run.add_argument("--run-dir", type=Path, default=None, help="where the run's files go (default: runs/ALGO__ENV__seedN__TIME)")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --run-dir from its last checkpoint (a fresh start if it has none)")
    return parser


def parse(config_class: type, module_name: str, module_doc: str, argv: list[str] | None = None
          ) -> tuple[object, int, Path, bool]:
    """The command line as (config, seed, run_dir, resume); exits 2 with one clear line on bad input."""
    algo = module_name.rsplit(".", 1)[-1]
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--env-id")
    early.add_argument("--preset", default="auto")
    known, _ = early.parse_known_args(argv)
    parser = build_parser(config_class, f"python -m {module_name}", module_doc, known.env_id, known.preset)
    args = vars(parser.parse_args(argv))
    seed, run_dir, resume = args.pop("seed"), args.pop("run_dir"), args.pop("resume")
    try:
        config = config_from_dict(config_class, args, source="option")
    except ConfigError as error:
        _exit_bad_input(parser.prog, error)
    if resume and run_dir is None:
        _exit_bad_input(parser.prog, ConfigError("resume", "--run-dir naming the run to continue", None))
    if run_dir is None:
        run_dir = Path("runs") / f"{algo}__{path_part(config.env_id)}__seed{seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    return config, seed, run_dir, resume


def main(config_class: type, train: Callable, module_name: str, module_doc: str, argv: list[str] | None = None) -> None:
    """Parse the command line into a Config, train, print the summary; exit 2 on bad input."""
    config, seed, run_dir, resume = parse(config_class, module_name, module_doc, argv)
    try:
        result = train(config, seed, run_dir, resume=resume)
    except ConfigError as error:
        _exit_bad_input(f"python -m {module_name}", error)
    print(f"{result.status}: score {result.score:.2f} ({config.score_rule}), {result.steps_per_second:.0f} steps/s, "
          f"peak RSS {result.peak_rss_mb:.0f} MB -> {run_dir}")
    sys.exit(0 if result.status == "completed" else 1)


def _exit_bad_input(prog: str, error: ConfigError) -> None:
    print(f"{prog}: error: {error}", file=sys.stderr)
    sys.exit(2)  # as argparse does: 2 means the input was wrong, not the program
