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

from common.config import ConfigError, config_from_dict, field_type


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


def build_parser(config_class: type, prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=_HelpFormatter
    )
    docs = field_docs(config_class)
    presets = getattr(config_class, "PRESETS", None)
    title = "hyperparameters (defaults are the paper's unless noted"
    title += "; a preset's values replace the defaults)" if presets else ")"
    hyper = parser.add_argument_group(title)
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        kind = field_type(config_class, field.name)
        # Options not given stay absent, so that a preset can tell them from explicit ones.
        help_text = f"{docs.get(field.name)} (default: {field.default})"
        if kind is bool:
            hyper.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text)
        else:
            hyper.add_argument(flag, type=kind, default=argparse.SUPPRESS, metavar=kind.__name__.upper(), help=help_text)
    if presets:
        parser.epilog = "presets:\n" + "\n".join(f"  {name}: {values}" for name, values in presets.items())
    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=int, default=1, help="seeds torch, numpy and the environments (default: 1)")
    run.add_argument("--run-dir", type=Path, default=None, help="where the run's files go (default: runs/ALGO__ENV__seedN__TIME)")
    return parser


def main(config_class: type, train: Callable, module_name: str, module_doc: str, argv: list[str] | None = None) -> None:
    """Parse the command line into a Config, train, print the summary; exit 2 on bad input."""
    algo = module_name.rsplit(".", 1)[-1]
    parser = build_parser(config_class, f"python -m {module_name}", module_doc)
    args = vars(parser.parse_args(argv))
    seed, run_dir = args.pop("seed"), args.pop("run_dir")
    try:
        config = config_from_dict(config_class, args, source="option")
    except ConfigError as error:
        _exit_bad_input(parser.prog, error)
    if run_dir is None:
        run_dir = Path("runs") / f"{algo}__{config.env_id}__seed{seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        result = train(config, seed, run_dir)
    except ConfigError as error:
        _exit_bad_input(parser.prog, error)
    print(f"{result.status}: score {result.score:.2f} ({config.score_rule}), {result.steps_per_second:.0f} steps/s, "
          f"peak RSS {result.peak_rss_mb:.0f} MB -> {run_dir}")
    sys.exit(0 if result.status == "completed" else 1)


def _exit_bad_input(prog: str, error: ConfigError) -> None:
    print(f"{prog}: error: {error}", file=sys.stderr)
    sys.exit(2)  # as argparse does: 2 means the input was wrong, not the program
