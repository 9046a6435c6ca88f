"""report.json: what an experiment's report shows, as data; and RESULTS_DIR/report.json, the index of a tier's reports.

`python -m analysis` writes each beside its report.md, and both pages are rendered from it: report.md by
templates/report.md.j2 and the experiment's section of report.html by templates/experiment.html.j2. A page is
rendered from data, never re-parsed from another page, so what a report says is decided once, here, and shown twice.

Words come as Text, a list of Spans, each plain or marked: strong, emphasis, code, a verdict (bold in Markdown, a
coloured badge on the page) or a link (its href relative to the report's folder). Tables are columns (a header, and
whether the column holds numbers, which the page right-aligns) and rows of Text cells. Figures are a path relative to
the report's folder and the alt text that captions them. The pages read these files back, so every field is checked
on the way in, and a bad file is named with its field and what was expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer, model_validator

from runner.spec import field_path, first_problem, located, rule

REPORT_JSON = "report.json"
STYLES = ("text", "strong", "emphasis", "code", "verdict", "link")


class Span(BaseModel):
    """A run of words with one style; `href` only for a link."""
    model_config = ConfigDict(strict=True, frozen=True)
    text: str
    style: Literal[STYLES] = "text"
    href: str | None = None

    @model_validator(mode="after")
    def href_on_links_only(self) -> Span:
        if (self.style == "link") != (self.href is not None):
            raise rule("href", "an href on a link, and on nothing else", self.href)
        return self

    @model_serializer
    def compact(self) -> dict:
        """Plain text as {"text": ...}: most spans are plain, and the file stays readable."""
        return ({"text": self.text} | ({"style": self.style} if self.style != "text" else {})
                | ({"href": self.href} if self.href is not None else {}))


Text = list[Span]


def text(*parts: str | Span) -> Text:
    """Text from strings (plain) and spans, in order; empty strings are left out."""
    return [Span(text=part) if isinstance(part, str) else part for part in parts if part != ""]


def strong(words: str) -> Span:
    return Span(text=words, style="strong")


def emphasis(words: str) -> Span:
    return Span(text=words, style="emphasis")


def code(words: str) -> Span:
    return Span(text=words, style="code")


def verdict(word: str) -> Span:
    """A claim's verdict (reproduced, contradicted, inconclusive, not judged): a badge on the page."""
    return Span(text=word, style="verdict")


def link(words: str, href: str) -> Span:
    return Span(text=words, style="link", href=href)


def plain(words: Text) -> str:
    """The words without their marks."""
    return "".join(span.text for span in words)


class Column(BaseModel):
    model_config = ConfigDict(strict=True)
    header: str
    numeric: bool = False  # numbers, CIs or counts: right-aligned on the page


class Table(BaseModel):
    model_config = ConfigDict(strict=True)
    columns: list[Column]
    rows: list[list[Text]]

    @model_validator(mode="after")
    def one_cell_per_column(self) -> Table:
        for number, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise rule(f"rows[{number}]", f"{len(self.columns)} cells, one per column", len(row))
        return self


def table_of(columns: list[Column], rows: list[list[str | Text]]) -> Table:
    """A table from cells given as plain strings or as Text."""
    return Table(columns=columns, rows=[[text(cell) if isinstance(cell, str) else cell for cell in row]
                                        for row in rows])


class Figure(BaseModel):
    model_config = ConfigDict(strict=True)
    path: str  # relative to the report's folder
    alt: str  # also its caption on the page


class Paragraph(BaseModel):
    model_config = ConfigDict(strict=True)
    kind: Literal["paragraph"] = "paragraph"
    text: Text


class TableBlock(BaseModel):
    model_config = ConfigDict(strict=True)
    kind: Literal["table"] = "table"
    table: Table


class Figures(BaseModel):
    """Figures one after another: side by side on the page where they fit."""
    model_config = ConfigDict(strict=True)
    kind: Literal["figures"] = "figures"
    figures: list[Figure]


Block = Annotated[Paragraph | TableBlock | Figures, Field(discriminator="kind")]


class Section(BaseModel):
    model_config = ConfigDict(strict=True)
    heading: str
    blocks: list[Block]


class VariantBudget(BaseModel):
    """A variant the tier gives its own environments and budget, with the spec's reason."""
    model_config = ConfigDict(strict=True)
    variant: str
    total_steps: dict[str, int]  # env steps, per environment
    environments: list[str]
    why: str


class Source(BaseModel):
    """Where published numbers (or, with a label, an implementation's numbers shown as context) come from."""
    model_config = ConfigDict(strict=True)
    source: str
    protocol: str = ""  # what they were measured under
    label: str = ""  # context numbers only: whose they are


class RunsCommit(BaseModel):
    model_config = ConfigDict(strict=True)
    commit: str
    runs: int  # run directories on disk made at it


class Facts(BaseModel):
    """What was run and how, at which commits, with which versions: the list at the top of a report."""
    model_config = ConfigDict(strict=True)
    reproduces: dict[str, str]  # the spec's: paper, table, claim
    tier: str
    total_steps: dict[str, int]  # env steps per run, per environment
    seeds: list[int]
    per_variant: list[VariantBudget]
    published: list[Source]
    context: list[Source]
    normalization: dict[str, str]  # env id -> how its scores are normalised
    score_rule: str
    score_rule_text: str
    reps: int  # bootstrap resamples per 95% CI
    protocols: dict[str, str]  # env id -> the protocol its runs recorded; empty when none has
    commit: str  # the commit the analysis ran at
    runs_commits: list[RunsCommit]  # most runs first
    written: str  # UTC, YYYY-MM-DD HH:MM
    versions: dict[str, str]  # package -> version


class Claims(BaseModel):
    """The claims table, how its verdicts were computed (or why there is no table), and why each verdict that is not
    "reproduced" is what it is."""
    model_config = ConfigDict(strict=True)
    table: Table | None
    note: Text
    diagnoses_note: Text = []
    diagnoses: list[Text] = []


class ExperimentReport(BaseModel):
    """One experiment's report.md, as data: EXPERIMENT/report.json."""
    model_config = ConfigDict(strict=True)
    experiment: str  # its folder in RESULTS_DIR
    title: str
    facts: Facts
    claims: Claims
    scores: Table | None  # None: the spec lists no jobs
    figures: list[Figure]
    aggregates: list[Block]
    summary: Section | None = None  # the paper's own summary table beside ours


class IndexEntry(BaseModel):
    model_config = ConfigDict(strict=True)
    name: str  # the experiment's folder in RESULTS_DIR
    title: str


class IndexReport(BaseModel):
    """RESULTS_DIR/report.md, as data: RESULTS_DIR/report.json. Each experiment's own is in its folder."""
    model_config = ConfigDict(strict=True)
    title: str
    commit: str  # the commit the analysis ran at
    sweep: Text | None  # what the newest sweep of the tier ran and its wall time, when one was recorded here
    experiments: list[IndexEntry]


ReportModel = TypeVar("ReportModel", ExperimentReport, IndexReport)


def report_json(report: ExperimentReport | IndexReport) -> str:
    """The file's text. Keys keep the report's order (environments, protocols, versions are shown in it)."""
    return report.model_dump_json(indent=2) + "\n"


def read_report_file(path: Path, model: type[ReportModel], results_dir: Path) -> ReportModel:
    """A report.json of RESULTS_DIR, checked field by field; FileNotFoundError or ValueError naming the file and what
    to do."""
    again = f"python -m analysis {results_dir}"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; write it with {again}")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: expected a JSON file ({error}); write it again with {again}") from None
    try:
        return model.model_validate(content)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        if first["type"] == "union_tag_invalid":  # a block of an unknown kind: pydantic's words name its internals
            problem = (f"{field_path(first['loc'])}.kind", f"one of [{first['ctx']['expected_tags']}]",
                       first["ctx"]["tag"])
        else:
            problem = first_problem(error)
        raise ValueError(f"{located(path, *problem)}; write it again with {again}") from None


def read_experiment_report(path: Path, experiment: str) -> ExperimentReport:
    """RESULTS_DIR/EXPERIMENT/report.json, for the experiment of that folder."""
    report = read_report_file(path, ExperimentReport, path.parent.parent)
    if report.experiment != experiment:
        raise ValueError(located(path, "experiment", f"its folder's name {experiment!r}", report.experiment))
    return report


def read_index_report(results_dir: Path) -> IndexReport:
    """RESULTS_DIR/report.json."""
    return read_report_file(results_dir / REPORT_JSON, IndexReport, results_dir)
