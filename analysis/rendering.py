"""The Jinja2 templates that write the reports (analysis/templates/): one environment, with the few filters the
reports share. HTML templates (*.html.j2) escape what they are given; Markdown ones write it as it is. Both render
report.json's parts (analysis.report_file) with the macros of blocks.md.j2 and blocks.html.j2."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from analysis.report_file import plain

TEMPLATES = Path(__file__).resolve().parent / "templates"


def budget(total_steps: dict[str, int]) -> str:
    """One number, or one per environment when the spec gives each its own."""
    if len(set(total_steps.values())) == 1:
        return f"{next(iter(total_steps.values())):,}"
    return ", ".join(f"{steps:,} ({env_id})" for env_id, steps in total_steps.items())


def table_cell(text: object) -> str:
    """Text in a Markdown table's cell: a bare | would split it."""
    return str(text).replace("|", "\\|")


def is_relative(href: str) -> bool:
    """A path from the report's folder: neither absolute nor a URL (http:, mailto:)."""
    return not (href.startswith("/") or re.match(r"[a-z]+:", href))


def relative_to(href: str, folder: str) -> str:
    """A link of a report seen from its parent folder (an experiment's report inside the index): `folder` before
    every relative href."""
    return folder + href if is_relative(href) else href


def plural(count: int, noun: str) -> str:
    """`1 run`, `2 runs`."""
    return f"{count} {noun}{'s' * (count != 1)}"


ENVIRONMENT = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html.j2"]),
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
ENVIRONMENT.filters.update(cell=table_cell, plain=plain, relative_to=relative_to)


def render(template: str, **data: object) -> str:
    return ENVIRONMENT.get_template(template).render(**data)


def macro(template: str, name: str) -> Callable[..., str]:
    """A macro of a template, to call from Python."""
    return getattr(ENVIRONMENT.get_template(template).module, name)
