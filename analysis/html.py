"""RESULTS_DIR/report.html: one self-contained page per results tier, to open offline in any browser.

It is built from what `python -m analysis RESULTS_DIR` wrote: the index RESULTS_DIR/report.md (its title, commit
line and one section per experiment) and each experiment's verdicts.json. At the top, every claim's verdict; then
a card per experiment; then each experiment's section. The CSS is inline and every figure is embedded as a data URI,
so the file can be mailed or archived alone. The Markdown is converted by the small converter below, which knows
exactly the subset our reports use: headings, paragraphs, bullet lists, bold, inline code, links, images and pipe
tables.

    python -m analysis.html RESULTS_DIR [--screenshot PNG]
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import mimetypes
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from dataclasses import dataclass
from html import escape
from itertools import groupby
from pathlib import Path
from typing import Callable

from core.errors import require
from core.files import write_atomic

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chromium-headless-shell")
INSTALL_HINT = "apt-get install -y --no-install-recommends chromium"
SCREENSHOT_SIZE = (1400, 2000)  # pixels: a desktop window, tall enough to show the verdicts and the first section

VERDICTS = ("reproduced", "contradicted", "inconclusive", "not judged")


def slug(verdict: str) -> str:
    return verdict.replace(" ", "-")


def badge(verdict: str, count: int | None = None) -> str:
    """A verdict in its colour: green, red, amber or grey."""
    text = verdict if count is None else f"{count} {verdict}"
    return f'<span class="badge {slug(verdict)}">{escape(text)}</span>'


# ---------------------------------------------------------------------------------------------------------------
# Markdown: the subset our reports use
# ---------------------------------------------------------------------------------------------------------------

HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
BULLET = re.compile(r"^\s*[-*]\s+(.*)$")
IMAGE_LINE = re.compile(r"^!\[[^\]]*\]\([^)\s]+\)$")
TABLE_SEPARATOR = re.compile(r"^:?-{3,}:?$")
FACT = re.compile(r"^\*\*(.+?):\*\*\s*(.*)$")  # "**Budget:** 100,000 steps": a bullet that names what it says
INLINE = re.compile(r"`(?P<code>[^`]+)`"
                    r"|!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)"
                    r"|\[(?P<text>[^\]]+)\]\((?P<href>[^)\s]+)\)"
                    r"|\*\*(?P<bold>.+?)\*\*"
                    r"|(?<![*\w])\*(?P<emphasis>[^*\s](?:[^*]*[^*\s])?)\*(?![*\w])")
NUMBER_CELL = re.compile(r"^[-+]?[\d,]*\.?\d+(\s*\[[-+\d,.\s]+\])?$|^\d+/\d+$|^\[[-+\d,.\s]+\]$")
PROSE_CELL = 30  # characters: a table cell longer than this may wrap
EXPERIMENT_REPORT_LINK = re.compile(r"^([^/]+)/report\.md$")
BOLD_VERDICT = re.compile(rf"^\*\*({'|'.join(VERDICTS)})\*\*$")  # a report's claims table: shown as a badge


def line_kind(line: str) -> str:
    if not line.strip():
        return "blank"
    if HEADING.match(line):
        return "heading"
    if line.lstrip().startswith("|"):
        return "table"
    if BULLET.match(line):
        return "bullet"
    return "figure" if IMAGE_LINE.match(line.strip()) else "text"


def table_cells(line: str) -> list[str]:
    """The cells of a `| a | b |` row; `\\|` is a pipe inside a cell."""
    row = line.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row)]


def is_numeric_column(cells: list[str]) -> bool:
    """Right-aligned when every filled cell is a number, a CI or a count such as 5/5."""
    filled = [cell for cell in cells if cell]
    return bool(filled) and all(NUMBER_CELL.match(cell) for cell in filled)


def cell_class(cell: str, numeric: bool) -> str:
    """Short cells never wrap (CartPole-v1 stays on one line); sentences may."""
    return "num" if numeric else "prose" if len(cell) > PROSE_CELL else "word"


class MarkdownRenderer:
    """Markdown to HTML for one results directory: images are read from it and embedded; links to an experiment's
    report.md become links to its section of the page."""

    def __init__(self, results_dir: Path, experiments: set[str]):
        self.results_dir = results_dir
        self.experiments = experiments

    def blocks(self, markdown: str) -> str:
        rendered: list[tuple[str, str]] = []
        for kind, lines in groupby(markdown.splitlines(), key=line_kind):
            lines = list(lines)
            if kind == "heading":
                rendered += [(kind, self.heading(line)) for line in lines]
            elif kind == "table":
                rendered.append((kind, self.table(lines)))
            elif kind == "bullet":
                rendered.append((kind, self.bullets(lines)))
            elif kind == "figure":
                rendered += [(kind, self.inline(line.strip())) for line in lines]
            elif kind == "text":
                rendered.append((kind, f"<p>{self.inline(' '.join(line.strip() for line in lines))}</p>"))
        # Figures one after another (blank lines between them) share a row when they fit side by side.
        html = []
        for is_figure, group in groupby(rendered, key=lambda block: block[0] == "figure"):
            parts = [part for _, part in group]
            html.append(f'<div class="figures">{"".join(parts)}</div>' if is_figure else "\n".join(parts))
        return "\n".join(html)

    def heading(self, line: str) -> str:
        hashes, text = HEADING.match(line).groups()
        return f"<h{len(hashes)}>{self.inline(text)}</h{len(hashes)}>"

    def bullets(self, lines: list[str]) -> str:
        """A list; indented items belong to the item above them. A list whose every item starts with a bold
        `**Key:**` is a list of facts, shown as a two-column definition list."""
        items: list[tuple[str, list[str]]] = []
        for line in lines:
            if line[:1].isspace() and items:
                items[-1][1].append(line)
            else:
                items.append((BULLET.match(line).group(1), []))
        nested = [self.bullets(textwrap.dedent("\n".join(children)).splitlines()) if children else ""
                  for _, children in items]
        facts = [FACT.match(text) for text, _ in items]
        if all(facts):
            pairs = "".join(f"<dt>{self.inline(fact.group(1))}</dt><dd>{self.inline(fact.group(2))}{children}</dd>"
                            for fact, children in zip(facts, nested))
            return f'<dl class="facts">{pairs}</dl>'
        return "<ul>" + "".join(f"<li>{self.inline(text)}{children}</li>"
                                for (text, _), children in zip(items, nested)) + "</ul>"

    def table(self, lines: list[str]) -> str:
        rows = [table_cells(line) for line in lines]
        has_header = len(rows) > 1 and all(TABLE_SEPARATOR.match(cell) for cell in rows[1])
        header, body = (rows[0], rows[2:]) if has_header else ([], rows)
        numeric = [is_numeric_column([row[column] for row in body if column < len(row)])
                   for column in range(max(map(len, rows)))]

        def cells(row: list[str], tag: str) -> str:
            return "".join(f'<{tag} class="{cell_class(cell, numeric[column])}">{self.cell(cell)}</{tag}>'
                           for column, cell in enumerate(row))

        head = f"<thead><tr>{cells(header, 'th')}</tr></thead>" if header else ""
        rows_html = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in body)
        return f'<div class="table-scroll"><table class="data">{head}<tbody>{rows_html}</tbody></table></div>'

    def cell(self, text: str) -> str:
        verdict = BOLD_VERDICT.match(text)
        return badge(verdict.group(1)) if verdict else self.inline(text)

    def inline(self, text: str) -> str:
        html, position = [], 0
        for match in INLINE.finditer(text):
            html.append(escape(text[position:match.start()]))
            position = match.end()
            if match["code"] is not None:
                html.append(f"<code>{escape(match['code'])}</code>")
            elif match["src"] is not None:
                html.append(self.image(match["alt"], match["src"]))
            elif match["href"] is not None:
                html.append(f'<a href="{escape(self.target(match["href"]))}">{self.inline(match["text"])}</a>')
            elif match["bold"] is not None:
                html.append(f"<strong>{self.inline(match['bold'])}</strong>")
            else:
                html.append(f"<em>{self.inline(match['emphasis'])}</em>")
        html.append(escape(text[position:]))
        return "".join(html)

    def target(self, href: str) -> str:
        linked = EXPERIMENT_REPORT_LINK.match(posixpath.normpath(href))
        return f"#{anchor(linked.group(1))}" if linked and linked.group(1) in self.experiments else href

    def image(self, alt: str, src: str) -> str:
        """A figure with the image embedded; a visible note in its place when the file is not there to embed."""
        path = self.results_dir / src
        media_type = mimetypes.guess_type(path.name)[0] or ""
        if "://" in src or not media_type.startswith("image/") or not path.is_file():
            why = "not embedded: not a local image file" if path.is_file() or "://" in src else "not found"
            return f'<p class="missing-figure">Figure {escape(alt)} ({escape(src)}) {why}.</p>'
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return (f'<figure><img src="data:{media_type};base64,{data}" alt="{escape(alt)}">'
                f"<figcaption>{escape(alt)}</figcaption></figure>")


def anchor(experiment: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", experiment)


# ---------------------------------------------------------------------------------------------------------------
# Inputs: the index and the verdicts
# ---------------------------------------------------------------------------------------------------------------

INDEX_LINK = re.compile(r"^- \[(?P<title>.+)\]\((?P<experiment>[^)/]+)/report\.md\)$")
SECTION_START = re.compile(r"^(?=## )", flags=re.MULTILINE)


@dataclass(frozen=True)
class Experiment:
    name: str  # its folder in RESULTS_DIR
    title: str
    markdown: str  # its section of the index, without the section's heading


@dataclass(frozen=True)
class Index:
    title: str
    preamble: str  # Markdown between the title and the list of experiments: the commit line
    experiments: list[Experiment]


def read_index(path: Path) -> Index:
    """The index `python -m analysis` writes: `# title`, a commit line, one `- [title](exp/report.md)` per
    experiment, then one `## ` section per experiment in the same order."""
    head, *sections = SECTION_START.split(path.read_text(encoding="utf-8"))
    head_lines = head.splitlines()
    titles = [line[2:].strip() for line in head_lines if line.startswith("# ")]
    links = [INDEX_LINK.match(line) for line in head_lines if INDEX_LINK.match(line)]
    if not titles:
        raise ValueError(f"{path}: expected a '# ' title on its first lines; write it with python -m analysis")
    if len(links) != len(sections):
        raise ValueError(f"{path}: expected one '## ' section per experiment link, got {len(links)} links and "
                         f"{len(sections)} sections; rewrite it with python -m analysis")
    preamble = "\n".join(line for line in head_lines
                         if not line.startswith("# ") and not INDEX_LINK.match(line))
    experiments = [Experiment(link["experiment"], link["title"], section.split("\n", 1)[1] if "\n" in section else "")
                   for link, section in zip(links, sections)]
    return Index(titles[0], preamble.strip(), experiments)


def is_text(value: object) -> bool:
    return isinstance(value, str)


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_interval(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(map(is_number, value)) and value[0] <= value[1]


def optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or check(value)


VERDICT_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "claim": (is_text, "a string naming the claim"),
    "sentence": (is_text, "the paper's sentence"),
    "form": (is_text, "a string: what was compared, how"),
    "verdict": (lambda value: value in VERDICTS, f"one of {', '.join(VERDICTS)}"),
    "probability_of_improvement": (optional(lambda value: is_number(value) and 0 <= value <= 1),
                                   "a number in [0, 1] or null"),
    "poi_ci": (optional(is_interval), "[low, high] or null"),
    "aggregate": (is_text, "a string such as IQM"),
    "difference": (optional(is_number), "a number or null"),
    "difference_ci": (optional(is_interval), "[low, high] or null"),
    "tasks": (is_count, "a count of tasks"),
    "seeds_a": (is_count, "a count of seeds"),
    "seeds_b": (is_count, "a count of seeds"),
    "reason": (is_text, "one sentence"),
}


def read_verdicts(path: Path, experiment: str) -> list[dict] | None:
    """The claims judged in an experiment's verdicts.json, checked field by field; None when there is no file."""
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: expected JSON, {error}") from None
    require(isinstance(content, dict), f"{path}", "a JSON object", type(content).__name__)
    require(isinstance(content.get("verdicts"), list), f"{path}: verdicts", "a list", content.get("verdicts"))
    require(content.get("experiment") == experiment, f"{path}: experiment", f"its folder's name {experiment!r}",
            content.get("experiment"))
    for number, verdict in enumerate(content["verdicts"]):
        missing = [field for field in VERDICT_FIELDS if not isinstance(verdict, dict) or field not in verdict]
        if missing:
            raise ValueError(f"{path}: verdicts[{number}] lacks {', '.join(missing)}; every verdict needs "
                             f"{', '.join(VERDICT_FIELDS)}")
        for field, (check, expected) in VERDICT_FIELDS.items():
            require(check(verdict[field]), f"{path}: verdicts[{number}].{field}", expected, verdict[field])
    return content["verdicts"]


# ---------------------------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------------------------

def decimals(value: float) -> int:
    """Three significant digits, at most two decimals: 0.12, 1.23, 12.3, 123, 1,234."""
    return 0 if value == 0 else min(2, max(0, 2 - math.floor(math.log10(abs(value)))))


def interval(low: float, high: float, places: int, sign: str = "") -> str:
    return f"[{low:{sign},.{places}f}, {high:{sign},.{places}f}]"


def probability_cell(verdict: dict) -> str:
    """P(improvement), its CI, and a bar from 0 to 1 with the CI shaded and a mark at 0.5 (no difference)."""
    probability, ci = verdict["probability_of_improvement"], verdict["poi_ci"]
    if probability is None:
        return '<td class="num muted">—</td>'
    low, high = ci or (probability, probability)
    label = f"P(improvement) {probability:.2f}" + (f", 95% CI {low:.2f} to {high:.2f}" if ci else "")
    bar = (f'<div class="poi-bar" role="img" aria-label="{label}">'
           f'<span class="ci" style="left:{low:.1%};width:{high - low:.1%}"></span>'
           f'<span class="point" style="left:{probability:.1%}"></span></div>')
    ci_text = f'<div class="ci-text">{interval(low, high, 2)}</div>' if ci else ""
    return f'<td class="num"><div class="estimate">{probability:.2f}</div>{ci_text}{bar}</td>'


def difference_cell(verdict: dict) -> str:
    difference, ci = verdict["difference"], verdict["difference_ci"]
    aggregate = f'<div class="aggregate">{escape(verdict["aggregate"])}</div>'
    if difference is None:
        return f'<td class="num muted">—{aggregate}</td>'
    places = decimals(difference)
    ci_text = f'<div class="ci-text">{interval(*ci, places, "+")}</div>' if ci else ""
    return f'<td class="num"><div class="estimate">{difference:+,.{places}f}</div>{ci_text}{aggregate}</td>'


def seeds(verdict: dict) -> str:
    """Runs per task of A and B; of A alone for a claim against published numbers (seeds_b 0)."""
    return f"{verdict['seeds_a']} vs {verdict['seeds_b']}" if verdict["seeds_b"] else str(verdict["seeds_a"])


def verdict_rows(experiment: Experiment, verdicts: list[dict] | None) -> str:
    """One tbody per experiment, its name spanning its claims' rows."""
    link = (f'<a href="#{anchor(experiment.name)}">{escape(experiment.title)}</a>'
            f'<div class="muted"><code>{escape(experiment.name)}</code></div>')
    if not verdicts:
        why = "no verdicts.json yet: its claims are not judged" if verdicts is None else "verdicts.json lists no claim"
        return f'<tbody><tr><td class="experiment">{link}</td><td colspan="7" class="muted">{why}</td></tr></tbody>'
    rows = []
    for number, verdict in enumerate(verdicts):
        first = f'<td class="experiment" rowspan="{len(verdicts)}">{link}</td>' if number == 0 else ""
        rows.append(
            f'<tr class="{slug(verdict["verdict"])}">{first}'
            f'<td class="claim"><div class="form">{escape(verdict["form"])}</div>'
            f'<div class="sentence">“{escape(verdict["sentence"])}”</div>'
            f'<div class="muted"><code>{escape(verdict["claim"])}</code></div></td>'
            f'<td>{badge(verdict["verdict"])}</td>{probability_cell(verdict)}{difference_cell(verdict)}'
            f'<td class="num">{verdict["tasks"]}</td><td class="num">{seeds(verdict)}</td>'
            f'<td class="reason">{escape(verdict["reason"])}</td></tr>')
    return f"<tbody>{''.join(rows)}</tbody>"


# (heading, % of the page's width, numeric): fixed widths, so that long reasons wrap instead of widening the table
VERDICT_COLUMNS = (("Experiment", 14, False), ("Claim", 25, False), ("Verdict", 9, False),
                   ("P(improvement)", 12, True), ("Difference", 11, True), ("Tasks", 5, True), ("Seeds", 6, True),
                   ("Why", 18, False))


def verdict_table(experiments: list[Experiment], verdicts: dict[str, list[dict] | None]) -> str:
    columns = "".join(f'<col style="width:{width}%">' for _, width, _ in VERDICT_COLUMNS)
    head = "".join(f"<th{' class=num' if numeric else ''}>{title}</th>" for title, _, numeric in VERDICT_COLUMNS)
    body = "".join(verdict_rows(experiment, verdicts[experiment.name]) for experiment in experiments)
    return (f'<div class="table-scroll"><table class="verdicts" id="verdict-table"><colgroup>{columns}</colgroup>'
            f"<thead><tr>{head}</tr></thead>{body}</table></div>")


def counts(verdicts: list[dict]) -> str:
    tally = Counter(verdict["verdict"] for verdict in verdicts)
    return " ".join(badge(kind, tally[kind]) for kind in VERDICTS if tally[kind])


def experiment_card(experiment: Experiment, verdicts: list[dict] | None) -> str:
    judged = counts(verdicts) if verdicts else '<span class="muted">no verdicts yet</span>'
    return (f'<li><a href="#{anchor(experiment.name)}"><span class="card-title">{escape(experiment.title)}</span>'
            f'<code>{escape(experiment.name)}</code><span class="card-badges">{judged}</span></a></li>')


def experiment_section(experiment: Experiment, verdicts: list[dict] | None, renderer: MarkdownRenderer) -> str:
    judged = f'<p class="section-verdicts">{counts(verdicts)}</p>' if verdicts else ""
    return (f'<section class="experiment" id="{anchor(experiment.name)}">'
            f'<h2>{escape(experiment.title)} <a class="to-top" href="#top" title="back to the verdicts">↑</a></h2>'
            f"{judged}{renderer.blocks(experiment.markdown)}</section>")


IMAGES_LOADED_SCRIPT = """
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  document.body.dataset.imagesTotal = images.length;
  document.body.dataset.imagesLoaded = images.filter(image => image.complete && image.naturalWidth > 0).length;
});
"""

STYLE = """
:root { --ink: #1f2328; --muted: #656d76; --line: #d8dee4; --paper: #ffffff; --ground: #f3f5f8; --accent: #2f4fb5;
  --reproduced: #1a7f37; --reproduced-bg: #dafbe1; --contradicted: #c62a2f; --contradicted-bg: #ffebe9;
  --inconclusive: #9a6700; --inconclusive-bg: #fff4c2; --not-judged: #59636e; --not-judged-bg: #e8ecf0; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--ground); color: var(--ink); line-height: 1.5; font-size: 15px;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
code { font-family: ui-monospace, SFMono-Regular, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.86em;
  background: rgba(175, 184, 193, 0.22); padding: 0.1em 0.35em; border-radius: 4px; overflow-wrap: anywhere; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.wrap { max-width: 1320px; margin: 0 auto; padding: 0 28px; }
header.masthead { background: linear-gradient(120deg, #0d1b3e 0%, #1d3d8f 60%, #2d5bd0 100%); color: #fff;
  padding: 34px 0 30px; }
.masthead .eyebrow { text-transform: uppercase; letter-spacing: 0.12em; font-size: 12px; opacity: 0.75; margin: 0; }
.masthead h1 { font-size: 34px; margin: 4px 0 6px; font-weight: 650; letter-spacing: -0.01em; }
.masthead p { margin: 0; opacity: 0.9; }
.masthead code { background: rgba(255, 255, 255, 0.14); color: #fff; }
.masthead .tally { margin-top: 16px; display: flex; gap: 8px; flex-wrap: wrap; }
.masthead .tally .badge { font-size: 14px; padding: 4px 12px; }
main { padding: 26px 0 40px; }
.panel { background: var(--paper); border: 1px solid var(--line); border-radius: 10px; padding: 22px 26px;
  margin-bottom: 24px; box-shadow: 0 1px 2px rgba(31, 35, 40, 0.05); }
.panel > h2, section.experiment > h2 { margin: 0 0 14px; font-size: 22px; font-weight: 650; }
.badge { display: inline-block; border-radius: 999px; padding: 2px 10px; font-size: 12.5px; font-weight: 650;
  white-space: nowrap; border: 1px solid transparent; }
.badge.reproduced { color: var(--reproduced); background: var(--reproduced-bg); border-color: #aceebb; }
.badge.contradicted { color: var(--contradicted); background: var(--contradicted-bg); border-color: #ffcecb; }
.badge.inconclusive { color: var(--inconclusive); background: var(--inconclusive-bg); border-color: #f2dd8c; }
.badge.not-judged { color: var(--not-judged); background: var(--not-judged-bg); border-color: #d0d7de; }
.muted { color: var(--muted); }
.table-scroll { overflow-x: auto; margin: 14px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th { text-align: left; font-weight: 650; color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: 0.04em; border-bottom: 2px solid var(--line); padding: 8px 10px; vertical-align: bottom; }
td { padding: 8px 10px; vertical-align: top; border-bottom: 1px solid #eaeef2; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
table.data td.word { white-space: nowrap; }
table.data td.prose { min-width: 150px; }
table.data tbody tr:nth-child(even) { background: #f6f8fa; }
table.data tbody tr:hover { background: #eef3ff; }
table.verdicts { table-layout: fixed; }
table.verdicts td { overflow-wrap: anywhere; }
table.verdicts tbody { border-top: 2px solid var(--line); }
table.verdicts td.experiment { font-weight: 600; background: #fafbfc;
  border-right: 1px solid #eaeef2; }
table.verdicts td.experiment .muted { font-weight: 400; margin-top: 4px; }
table.verdicts .form { font-weight: 600; }
table.verdicts .sentence { color: var(--muted); font-style: italic; font-size: 12.5px; margin: 3px 0; }
table.verdicts td.reason { font-size: 13px; }
table.verdicts tr.reproduced td.claim { box-shadow: inset 4px 0 0 var(--reproduced); }
table.verdicts tr.contradicted td.claim { box-shadow: inset 4px 0 0 var(--contradicted); }
table.verdicts tr.inconclusive td.claim { box-shadow: inset 4px 0 0 #d4a72c; }
table.verdicts tr.not-judged td.claim { box-shadow: inset 4px 0 0 #afb8c1; }
.estimate { font-weight: 650; font-size: 14px; }
.ci-text { color: var(--muted); font-size: 12px; }
.aggregate { color: var(--muted); font-size: 11.5px; text-transform: uppercase; letter-spacing: 0.04em; }
.poi-bar { position: relative; height: 8px; width: 100%; max-width: 150px; margin: 7px 0 2px auto; border-radius: 4px;
  background: #eaeef2; }
.poi-bar::after { content: ""; position: absolute; left: 50%; top: -3px; bottom: -3px; width: 1px;
  background: #8c959f; }
.poi-bar .ci { position: absolute; top: 0; bottom: 0; border-radius: 4px; min-width: 3px; opacity: 0.45; }
.poi-bar .point { position: absolute; top: -2px; width: 12px; height: 12px; margin-left: -6px; border-radius: 50%;
  border: 2px solid #fff; box-shadow: 0 0 0 1px rgba(0, 0, 0, 0.25); }
tr.reproduced .poi-bar span { background: var(--reproduced); }
tr.contradicted .poi-bar span { background: var(--contradicted); }
tr.inconclusive .poi-bar span { background: #d4a72c; }
tr.not-judged .poi-bar span { background: #8c959f; }
ol.cards { list-style: none; margin: 0; padding: 0; display: grid; gap: 12px;
  grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); }
ol.cards a { display: flex; flex-direction: column; gap: 6px; height: 100%; padding: 14px 16px; border-radius: 8px;
  border: 1px solid var(--line); background: #fafbfc; color: var(--ink); }
ol.cards a:hover { border-color: var(--accent); background: #f5f8ff; text-decoration: none; }
ol.cards .card-title { font-weight: 600; }
ol.cards code { align-self: flex-start; }
.card-badges { display: flex; gap: 6px; flex-wrap: wrap; margin-top: auto; }
section.experiment { background: var(--paper); border: 1px solid var(--line); border-radius: 10px;
  padding: 24px 28px; margin-bottom: 24px; box-shadow: 0 1px 2px rgba(31, 35, 40, 0.05); scroll-margin-top: 12px; }
section.experiment h3 { font-size: 17px; margin: 22px 0 8px; }
a.to-top { font-size: 16px; color: var(--muted); margin-left: 6px; }
.section-verdicts { margin: -6px 0 12px; display: flex; gap: 6px; flex-wrap: wrap; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 14px 0;
  padding: 14px 18px; background: #f6f8fa; border-radius: 8px; font-size: 14px; }
dl.facts dt { font-weight: 650; color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
dl.facts dd ul { margin: 4px 0 0; padding-left: 18px; }
.figures { display: flex; flex-wrap: wrap; justify-content: center; gap: 16px; margin: 18px 0 4px; }
figure { margin: 0; padding: 12px; border: 1px solid #eaeef2; border-radius: 8px; background: #fff; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { text-align: center; color: var(--muted); font-size: 13px; margin-top: 6px; }
.missing-figure { padding: 14px; border: 1px dashed var(--contradicted); color: var(--contradicted);
  border-radius: 8px; }
footer { color: var(--muted); font-size: 12.5px; text-align: center; padding: 0 0 30px; }
"""


def render_page(results_dir: Path) -> str:
    index = read_index(results_dir / "report.md")
    verdicts = {experiment.name: read_verdicts(results_dir / experiment.name / "verdicts.json", experiment.name)
                for experiment in index.experiments}
    renderer = MarkdownRenderer(results_dir, {experiment.name for experiment in index.experiments})
    judged = [verdict for claims in verdicts.values() if claims for verdict in claims]
    tier = results_dir.resolve().name
    summary = (f"{len(judged)} claim{'s' * (len(judged) != 1)} in "
               f"{len(index.experiments)} experiment{'s' * (len(index.experiments) != 1)}")
    cards = "".join(experiment_card(experiment, verdicts[experiment.name]) for experiment in index.experiments)
    sections = "\n".join(experiment_section(experiment, verdicts[experiment.name], renderer)
                         for experiment in index.experiments)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(index.title)} · rlrepro</title>
<style>{STYLE}</style>
</head>
<body id="top">
<header class="masthead"><div class="wrap">
<p class="eyebrow">rlrepro · {escape(tier)} tier</p>
<h1>{renderer.inline(index.title)}</h1>
{renderer.blocks(index.preamble)}
<div class="tally">{counts(judged)}</div>
</div></header>
<main class="wrap">
<section class="panel" id="verdicts"><h2>Verdicts</h2><p class="muted">{summary}. P(improvement): the probability
that a run of the first method beats a run of the second on a task; 0.5 means no difference. In brackets: 95% CIs.</p>
{verdict_table(index.experiments, verdicts)}</section>
<nav class="panel" id="experiments"><h2>Experiments</h2><ol class="cards">{cards}</ol></nav>
{sections}
</main>
<footer>Written by <code>python -m analysis.html</code> from {escape(tier)}/report.md and each experiment's
verdicts.json. Self-contained: styles and figures are inside this file.</footer>
<script>{IMAGES_LOADED_SCRIPT}</script>
</body>
</html>
"""


def write_html_report(results_dir: Path) -> Path:
    """Write RESULTS_DIR/report.html from RESULTS_DIR/report.md and the experiments' verdicts.json; its path."""
    index = results_dir / "report.md"
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found; write it first with python -m analysis {results_dir}")
    page = results_dir / "report.html"
    # Character references for everything beyond ASCII: the file reads the same whatever the locale's encoding.
    write_atomic(page, render_page(results_dir).encode("ascii", "xmlcharrefreplace").decode("ascii"))
    return page


# ---------------------------------------------------------------------------------------------------------------
# Headless browser
# ---------------------------------------------------------------------------------------------------------------

class BrowserNotFound(RuntimeError):
    def __init__(self) -> None:
        super().__init__(f"no headless browser on PATH (looked for {', '.join(BROWSERS)}); install one, e.g. "
                         f"{INSTALL_HINT}")


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def run_headless(page: Path, *options: str, timeout: float = 120) -> str:
    """Open page in headless Chromium with options, after its load event and 5 s of page time; its standard output
    (the DOM, with --dump-dom). Raises BrowserNotFound, or RuntimeError with the browser's last words."""
    browser = find_browser()
    if browser is None:
        raise BrowserNotFound()
    with tempfile.TemporaryDirectory(prefix="rlrepro-chromium-") as profile:  # no shared profile lock between runs
        process = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             f"--user-data-dir={profile}", "--virtual-time-budget=5000", *options, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"{browser} exited with {process.returncode} on {page}:\n{process.stderr[-2000:]}")
    return process.stdout


def screenshot(html: Path, png: Path, size: tuple[int, int] = SCREENSHOT_SIZE) -> Path:
    """A PNG of the page's top, in a window of size (width, height) pixels; png."""
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)  # so that an old file never passes for this screenshot
    run_headless(html, f"--screenshot={png.resolve()}", f"--window-size={size[0]},{size[1]}")
    if not png.is_file() or png.stat().st_size == 0:
        raise RuntimeError(f"the browser wrote no screenshot to {png}")
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.html",
                                     description="Write RESULTS_DIR/report.html, one self-contained page with every "
                                                 "claim's verdict, every experiment's report and its figures.")
    parser.add_argument("results_dir", type=Path, metavar="RESULTS_DIR",
                        help="a results tier holding report.md (written by python -m analysis), e.g. results/nightly")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help=f"also save a {SCREENSHOT_SIZE[0]}x{SCREENSHOT_SIZE[1]} screenshot of the page's top "
                             "(needs Chromium)")
    args = parser.parse_args(argv)
    try:
        page = write_html_report(args.results_dir)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {page}")
    if args.screenshot:
        try:
            print(f"wrote {screenshot(page, args.screenshot)}")
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
