"""RESULTS_DIR/report.html: one self-contained page per results tier, to open offline in any browser.

It is rendered from data `python -m analysis RESULTS_DIR` wrote: the index RESULTS_DIR/report.json (its title, commit
line, sweep line and experiments), each experiment's report.json (analysis.report_file: the same data its report.md
is rendered from) and verdicts.json. At the top, every claim's verdict; then a card per experiment; then each
experiment's section (templates/experiment.html.j2). A smoke tier judges no claim, so its page leads instead with what
the run checked (analysis.front_page gathers it from the runs): the pipeline's stages, each algorithm's smoke score
beside a random policy's, and the verdicts committed for the nightly tier beside it; its own claims, all "not judged",
fold into one line. The page is templates/page.html.j2; its style (static/report.css) and script (static/report.js)
are inlined and every figure is embedded as a data URI, so the file can be mailed or archived alone.

An experiment whose report.md was written before reports kept their data (the committed reports of that time) has no
report.json: its section says so and links its report.md, which is not converted. Without RESULTS_DIR/report.json the
page is not written: `python -m analysis RESULTS_DIR` writes it.

    python -m analysis.html RESULTS_DIR [--screenshot PNG]
"""

from __future__ import annotations

import argparse
import base64
import math
import mimetypes
import posixpath
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from functools import partial
from html import escape
from itertools import groupby
from pathlib import Path

from markupsafe import Markup

from analysis.browser import SCREENSHOT_SIZE, screenshot
from analysis.front_page import (ABOVE, NIGHTLY, NO_RANDOM, NO_SCORE, NOT_YET, CommittedVerdicts, ExperimentCheck,
                                 LearningSignal, Stage, committed_verdicts, nightly_dir, plans_tier, plural,
                                 smoke_checks)
from analysis.rendering import is_relative, render
from analysis.report import fact_list
from analysis.report_file import (REPORT_JSON, ExperimentReport, IndexEntry, IndexReport, read_experiment_report,
                                  read_index_report)
from analysis.table import format_number
from analysis.verdicts_file import VERDICTS, ClaimVerdict, read_verdicts_file
from core.files import write_atomic

STATIC = Path(__file__).resolve().parent / "static"  # the page's style and script, inlined into it


def slug(verdict: str) -> str:
    return verdict.replace(" ", "-")


def badge(verdict: str, count: int | None = None) -> str:
    """A verdict in its colour: green, red, amber or grey."""
    text = verdict if count is None else f"{count} {verdict}"
    return f'<span class="badge {slug(verdict)}">{escape(text)}</span>'


def anchor(experiment: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", experiment)


# ---------------------------------------------------------------------------------------------------------------
# An experiment's section, from its report.json
# ---------------------------------------------------------------------------------------------------------------

def page_link(href: str, experiment: str, experiments: set[str]) -> str:
    """A link of an experiment's report as the page follows it: to an experiment's report.md, its section; to
    anything else on disk, from RESULTS_DIR (where the page is)."""
    if not is_relative(href):
        return href
    target = posixpath.normpath(posixpath.join(experiment, href))
    linked = target.removesuffix("/report.md")
    return f"#{anchor(linked)}" if target.endswith("/report.md") and linked in experiments else target


@dataclass(frozen=True)
class Embedded:
    """A figure of a report, read into the page: its data URI, or why it could not be."""
    source: str  # its path from RESULTS_DIR
    data_uri: str | None
    why: str  # when there is no data URI


def embedded(results_dir: Path, experiment: str, path: str) -> Embedded:
    source = posixpath.join(experiment, path)
    file = results_dir / source
    media_type = mimetypes.guess_type(file.name)[0] or ""
    if "://" in path or not media_type.startswith("image/") or not file.is_file():
        why = "not embedded: not a local image file" if file.is_file() or "://" in path else "not found"
        return Embedded(source, None, why)
    return Embedded(source, f"data:{media_type};base64,{base64.b64encode(file.read_bytes()).decode('ascii')}", "")


def experiment_section(results_dir: Path, entry: IndexEntry, report: ExperimentReport | None, badges: str,
                       experiments: set[str]) -> str:
    """The experiment's report.json as a section of the page; without one, a note that says why."""
    return render("experiment.html.j2", entry=entry, anchor=anchor(entry.name), badges=Markup(badges), report=report,
                  facts=fact_list(report.facts) if report else [], tier=results_dir.resolve().name,
                  legacy=(results_dir / entry.name / "report.md").is_file(), experiment=entry.name,
                  href=partial(page_link, experiments=experiments), embed=partial(embedded, results_dir))


# ---------------------------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------------------------

def decimals(value: float) -> int:
    """Three significant digits, at most two decimals: 0.12, 1.23, 12.3, 123, 1,234."""
    return 0 if value == 0 else min(2, max(0, 2 - math.floor(math.log10(abs(value)))))


def interval(low: float, high: float, places: int, sign: str = "") -> str:
    return f"[{low:{sign},.{places}f}, {high:{sign},.{places}f}]"


def probability_cell(verdict: ClaimVerdict) -> str:
    """P(improvement), its CI, and its bar."""
    probability, ci = verdict.probability_of_improvement, verdict.poi_ci
    if probability is None:
        return '<td class="num muted">—</td>'
    ci_text = f'<div class="ci-text">{interval(*ci, 2)}</div>' if ci else ""
    return (f'<td class="num"><div class="estimate">{probability:.2f}</div>{ci_text}{poi_bar(verdict)}'
            f'{decides(verdict, "probability_of_improvement")}</td>')


def decides(verdict: ClaimVerdict, statistic: str) -> str:
    """A mark on the figure that decided the verdict: the statistic the claim's sentence names."""
    decided_by = verdict.decided_by
    return '<div class="decides">decides</div>' if decided_by == statistic else ""


def poi_bar(verdict: ClaimVerdict) -> str:
    """A bar from 0 to 1 with the CI shaded, a mark at 0.5 (no difference) and a dot at P(improvement)."""
    probability, ci = verdict.probability_of_improvement, verdict.poi_ci
    low, high = ci or (probability, probability)
    label = f"P(improvement) {probability:.2f}" + (f", 95% CI {low:.2f} to {high:.2f}" if ci else "")
    return (f'<div class="poi-bar" role="img" aria-label="{label}">'
            f'<span class="ci" style="left:{low:.1%};width:{high - low:.1%}"></span>'
            f'<span class="point" style="left:{probability:.1%}"></span></div>')


def difference_cell(verdict: ClaimVerdict) -> str:
    difference, ci = verdict.difference, verdict.difference_ci
    aggregate = f'<div class="aggregate">{escape(verdict.aggregate)}</div>'
    if difference is None:
        return f'<td class="num muted">—{aggregate}</td>'
    places = decimals(difference)
    ci_text = f'<div class="ci-text">{interval(*ci, places, "+")}</div>' if ci else ""
    return (f'<td class="num"><div class="estimate">{difference:+,.{places}f}</div>{ci_text}{aggregate}'
            f'{decides(verdict, "aggregate_difference")}</td>')


def seeds(verdict: ClaimVerdict) -> str:
    """Runs per task of A and B; of A alone for a claim against published numbers (seeds_b 0)."""
    return f"{verdict.seeds_a} vs {verdict.seeds_b}" if verdict.seeds_b else str(verdict.seeds_a)


def verdict_rows(experiment: IndexEntry, verdicts: list[ClaimVerdict] | None) -> str:
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
            f'<tr class="{slug(verdict.verdict)}">{first}'
            f'<td class="claim"><div class="form">{escape(verdict.form)}</div>'
            f'<div class="sentence">“{escape(verdict.sentence)}”</div>'
            f'<div class="muted"><code>{escape(verdict.claim)}</code></div></td>'
            f'<td>{badge(verdict.verdict)}</td>{probability_cell(verdict)}{difference_cell(verdict)}'
            f'<td class="num">{verdict.tasks}</td><td class="num">{seeds(verdict)}</td>'
            f'<td class="reason">{escape(verdict.reason)}{diagnosis_note(verdict)}</td></tr>')
    return f"<tbody>{''.join(rows)}</tbody>"


def diagnosis_note(verdict: ClaimVerdict) -> str:
    """Under a verdict that is not "reproduced": the spec's diagnosis for the tier, or that there is none yet."""
    if not verdict.needs_diagnosis():
        return ""
    diagnosis = verdict.diagnosis
    if diagnosis is None:
        return '<div class="diagnosis missing"><strong>no diagnosis yet</strong></div>'
    return (f'<div class="diagnosis {escape(diagnosis.kind)}"><strong>{escape(diagnosis.kind)}</strong>: '
            f'{escape(diagnosis.text)}</div>')


# (heading, % of the page's width, numeric): fixed widths, so that long reasons wrap instead of widening the table
VERDICT_COLUMNS = (("Experiment", 14, False), ("Claim", 25, False), ("Verdict", 9, False),
                   ("P(improvement)", 12, True), ("Difference", 11, True), ("Tasks", 5, True), ("Seeds", 6, True),
                   ("Why", 18, False))


def verdict_table(experiments: list[IndexEntry], verdicts: dict[str, list[ClaimVerdict] | None]) -> str:
    columns = "".join(f'<col style="width:{width}%">' for _, width, _ in VERDICT_COLUMNS)
    head = "".join(f"<th{' class=num' if numeric else ''}>{title}</th>" for title, _, numeric in VERDICT_COLUMNS)
    body = "".join(verdict_rows(experiment, verdicts[experiment.name]) for experiment in experiments)
    return (f'<div class="table-scroll"><table class="verdicts" id="verdict-table"><colgroup>{columns}</colgroup>'
            f"<thead><tr>{head}</tr></thead>{body}</table></div>")


def counts(verdicts: list[ClaimVerdict]) -> str:
    tally = Counter(verdict.verdict for verdict in verdicts)
    return " ".join(badge(kind, tally[kind]) for kind in VERDICTS if tally[kind])


def experiment_card(experiment: IndexEntry, badges: str) -> str:
    badges = badges or '<span class="muted">no verdicts yet</span>'
    return (f'<li><a href="#{anchor(experiment.name)}"><span class="card-title">{escape(experiment.title)}</span>'
            f'<code>{escape(experiment.name)}</code><span class="card-badges">{badges}</span></a></li>')


# ---------------------------------------------------------------------------------------------------------------
# A smoke page's top: what the run checked, each algorithm against a random policy, the committed nightly verdicts
# ---------------------------------------------------------------------------------------------------------------

STAGE_MARKS = {"passed": "✓", "partial": "!", "failed": "✗", "empty": "–"}
SIGNAL_KINDS = {ABOVE: "good", NOT_YET: "warn", NO_SCORE: "bad", NO_RANDOM: "neutral"}


def check_badge(text: str, kind: str) -> str:
    """A fact in a colour: good (green), warn (amber), bad (red) or neutral (grey)."""
    return f'<span class="badge {kind}">{escape(text)}</span>'


def share_kind(done: int, total: int) -> str:
    return "good" if done == total else "bad" if done == 0 else "warn"


def stage_strip(stages: list[Stage]) -> str:
    """The pipeline left to right, each stage with its count and a mark: passed, partial or failed."""
    items = "".join(
        f'<li class="stage {stage.status}"><div class="stage-head"><span class="stage-mark" aria-hidden="true">'
        f'{STAGE_MARKS[stage.status]}</span><span class="stage-name">{escape(stage.name)}</span></div>'
        f'<div class="stage-count"><strong>{stage.done:,}</strong> of {stage.total:,}</div>'
        f'<div class="stage-detail">{escape(stage.detail)}</div></li>' for stage in stages)
    return f'<ol class="stages" id="stages">{items}</ol>'


def count_cell(count: int) -> str:
    """A count of runs that went wrong: faint at zero, red otherwise."""
    return f'<td class="num {"bad" if count else "zero"}">{count}</td>'


def share_cell(done: int, total: int, note: str = "") -> str:
    note_html = f'<div class="ci-text">{escape(note)}</div>' if note else ""
    return f'<td class="num {share_kind(done, total)}">{done}/{total}{note_html}</td>'


def analysis_cell(check: ExperimentCheck) -> str:
    if not check.ran:
        return '<td class="muted">no runs on disk: files kept as they were</td>'
    if check.outputs_missing:
        return f'<td class="bad">missing: {escape(", ".join(check.outputs_missing))}</td>'
    return (f'<td class="good">report, table, {plural(check.figures, "figure")}, '
            f'{plural(check.claims, "claim")}</td>')


CHECK_COLUMNS = ("Experiment", "Runs finished", "Failed", "Diverged", "Not finished", "Checkpoints", "Evaluated",
                 "Scored", "Analysis wrote")


def checks_table(checks: list[ExperimentCheck]) -> str:
    head = "".join(f'<th class="{"word" if number in (0, 8) else "num"}">{title}</th>'
                   for number, title in enumerate(CHECK_COLUMNS))
    rows = "".join(
        f'<tr><td class="experiment"><a href="#{anchor(check.name)}">{escape(check.title)}</a>'
        f'<div class="muted"><code>{escape(check.name)}</code></div></td>'
        f"{share_cell(check.completed, check.planned)}{count_cell(check.failed)}{count_cell(check.diverged)}"
        f"{count_cell(check.unfinished + check.missing)}{share_cell(check.checkpoints, check.planned)}"
        f"{share_cell(check.evaluated, check.planned, plural(check.evaluations, 'evaluation'))}"
        f"{share_cell(check.scored, check.planned)}{analysis_cell(check)}</tr>" for check in checks)
    return (f'<div class="table-scroll"><table class="checks" id="checks-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>")


def problems_list(checks: list[ExperimentCheck], without_plan: list[str], results_dir: Path) -> str:
    """Every run without a score, with where to look (from the results directory) and what to do."""
    items = [f"<li><code>{escape(name)}</code>: no plan on disk (runs/plan.json or spec.json); run the sweep for it"
             "</li>" for name in without_plan]
    items += [f"<li><code>{escape(check.name)}</code> · {escape(problem.variant)} on {escape(problem.env)}, "
              f"seed {problem.seed}: {escape(problem.problem)}"
              + (f' <span class="muted">(see <code>{escape(shown_path(problem.run_dir / "log.txt", results_dir))}'
                 "</code>)</span>" if problem.run_dir.is_dir() else "") + "</li>"
              for check in checks for problem in check.problems]
    if not items:
        return ""
    return (f'<div class="problems"><p><strong>{plural(len(items), "run")} gave no score.</strong> Run '
            "<code>./run_all.sh</code> again: finished runs are kept, interrupted ones continue from their checkpoint "
            f"and failed ones start afresh.</p><ul>{''.join(items)}</ul></div>")


def shown_path(path: Path, results_dir: Path) -> str:
    """A path as the page's reader finds it: from the results root, e.g. smoke/EXPERIMENT/runs/..."""
    try:
        return path.resolve().relative_to(results_dir.resolve().parent).as_posix()
    except ValueError:
        return str(path)


def signal_strip(signal: LearningSignal) -> str:
    """Where the smoke score (dot) and the best evaluation (ring) fall against the random policy's mean and one
    standard deviation above it (the band: what a score must clear), on the row's own scale."""
    random, points = signal.random, [v for v in (signal.score, signal.best_evaluation) if v is not None]
    if random is None or not points:
        return '<td class="muted">—</td>'
    low, high = min(random.mean - random.std, *points), max(random.bar, *points)
    margin = 0.08 * ((high - low) or max(abs(high), 1.0))
    low, high = low - margin, high + margin

    def at(value: float) -> str:
        return f"{(value - low) / (high - low):.1%}"

    best = (f'<span class="best" style="left:{at(signal.best_evaluation)}"></span>'
            if signal.best_evaluation is not None else "")
    score = (f'<span class="score {SIGNAL_KINDS[signal.word]}" style="left:{at(signal.score)}"></span>'
             if signal.score is not None else "")
    label = (f"smoke score {format_number(signal.score) if signal.score is not None else 'none'}, random policy "
             f"{format_number(random.mean)} plus one standard deviation {format_number(random.bar)}")
    return (f'<td><div class="strip" role="img" aria-label="{escape(label)}">'
            f'<span class="band" style="left:{at(random.mean - random.std)};width:'
            f'{(2 * random.std) / (high - low):.1%}"></span>'
            f'<span class="bar-line" style="left:{at(random.bar)}"></span>'
            f'<span class="tick" style="left:{at(random.mean)}"></span>{best}{score}</div></td>')


def breakable(name: str) -> str:
    """A snake_case name that may wrap after its underscores, never inside a word."""
    return escape(name).replace("_", "_<wbr>")


def signal_cells(signal: LearningSignal) -> str:
    score = (f'<div class="estimate">{format_number(signal.score)}</div>' if signal.score is not None
             else '<div class="estimate muted">—</div>')
    best = (f'<div class="estimate">{format_number(signal.best_evaluation)}</div>'
            f'<div class="ci-text">step {signal.best_evaluation_step:,}</div>'
            if signal.best_evaluation is not None else '<div class="muted">no evaluation</div>')
    random = (f'<div class="estimate">{format_number(signal.random.mean)}</div>'
              f'<div class="ci-text" title="mean ± standard deviation over {signal.random.episodes} episodes">'
              f"± {format_number(signal.random.std)}</div>" if signal.random else '<div class="muted">—</div>')
    algo = f' <span class="muted">({escape(signal.algo)})</span>' if signal.algo != signal.variant else ""
    return (f'<td class="algorithm"><strong>{breakable(signal.variant)}</strong>{algo}'
            f'<div class="task">{escape(signal.env)}</div></td>'
            f'<td class="num">{score}<div class="ci-text">{signal.seeds_scored}/{signal.seeds_planned} seeds</div></td>'
            f'<td class="num">{best}</td><td class="num">{random}</td>{signal_strip(signal)}'
            f"<td>{check_badge(signal.word, SIGNAL_KINDS[signal.word])}</td>")


SIGNAL_COLUMNS = (("Algorithm · task", 25, False), ("Smoke score", 11, True), ("Best evaluation", 12, True),
                  ("Random policy", 11, True), ("Against random", 20, False), ("First signal", 21, False))


def above_random_badge(signals: list[LearningSignal]) -> str:
    """How many of the variants that could be compared with a random policy beat it; nothing when none could."""
    judgeable = [signal for signal in signals if signal.word in (ABOVE, NOT_YET)]
    above = sum(signal.word == ABOVE for signal in judgeable)
    if not judgeable:
        return ""
    return check_badge(f"{above} of {len(judgeable)} above random", share_kind(above, len(judgeable)))


def signals_table(signals: list[LearningSignal], titles: dict[str, str]) -> str:
    """A group per experiment, a row per variant and task."""
    columns = "".join(f'<col style="width:{width}%">' for _, width, _ in SIGNAL_COLUMNS)
    head = "".join(f"<th{' class=num' if numeric else ''}>{title}</th>" for title, _, numeric in SIGNAL_COLUMNS)
    bodies = []
    for experiment, group in groupby(signals, key=lambda signal: signal.experiment):
        group = list(group)
        title = escape(titles.get(experiment, experiment))
        header = (f'<tr class="group"><td colspan="{len(SIGNAL_COLUMNS)}"><div class="group-head">'
                  f'<span class="group-title"><a href="#{anchor(experiment)}">{title}</a> '
                  f"<code>{escape(experiment)}</code></span>{above_random_badge(group)}</div></td></tr>")
        bodies.append(f'<tbody id="signals-{anchor(experiment)}">{header}' + "".join(
            f'<tr class="signal {SIGNAL_KINDS[signal.word]}">{signal_cells(signal)}</tr>' for signal in group)
            + "</tbody>")
    return (f'<div class="table-scroll"><table class="signals" id="signal-table"><colgroup>{columns}</colgroup>'
            f"<thead><tr>{head}</tr></thead>{''.join(bodies)}</table></div>")


def short_commit(commit: str) -> str:
    """The first 10 hex digits, keeping git describe's -dirty (uncommitted changes) mark."""
    return commit[:10] + ("-dirty" if commit.endswith("-dirty") and len(commit) > 16 else "")


def commit_code(commit: str) -> str:
    return f'<code title="{escape(commit)}">{escape(short_commit(commit))}</code>'


def provenance(committed: CommittedVerdicts) -> str:
    """When and at which commit the verdicts were made, and how to make them again."""
    report = (f'<a href="{escape(committed.report_link)}">report.md</a>' if committed.report_link
              else "its report.md")
    if committed.commit:
        made = (f"judged at commit {commit_code(committed.commit)}"
                + (f" on {escape(committed.date)}" if committed.date else ""))
        if committed.runs_commits and committed.runs_commits != [committed.commit]:
            made += f"; runs made at {', '.join(map(commit_code, committed.runs_commits))}"
    else:
        made = f"commit not recorded in verdicts.json; see {report}"
    return (f'<div class="provenance"><span>{made}</span><span>reproduce: '
            f"<code>{escape(committed.reproduce)}</code></span></div>")


def decides_word(verdict: ClaimVerdict, statistic: str) -> str:
    return " (decides)" if verdict.decided_by == statistic else ""


def estimates_line(verdict: ClaimVerdict) -> str:
    """A judged claim's numbers in one line; a claim without them, why."""
    if verdict.probability_of_improvement is None and verdict.difference is None:
        return f'<div class="claim-why">{escape(verdict.reason)}</div>'
    parts = []
    if verdict.probability_of_improvement is not None:
        ci = verdict.poi_ci
        parts.append(f"P(improvement) <strong>{verdict.probability_of_improvement:.2f}</strong>"
                     + (f" {interval(*ci, 2)}" if ci else "") + decides_word(verdict, "probability_of_improvement"))
    if verdict.difference is not None:
        places = decimals(verdict.difference)
        ci = verdict.difference_ci
        parts.append(f"{escape(verdict.aggregate)} difference <strong>{verdict.difference:+,.{places}f}</strong>"
                     + (f" {interval(*ci, places, '+')}" if ci else "") + decides_word(verdict, "aggregate_difference"))
    return f'<div class="claim-why" title="{escape(verdict.reason)}">{" · ".join(parts)}</div>'


def committed_claim(verdict: ClaimVerdict) -> str:
    """One committed claim: its verdict, what it compares (the paper's sentence on hover), its numbers and the
    P(improvement) bar."""
    bar = poi_bar(verdict) if verdict.probability_of_improvement is not None else ""
    return (f'<li class="{slug(verdict.verdict)}"><div class="claim-verdict">{badge(verdict.verdict)}</div>'
            f'<div class="claim-body"><div class="form" title="{escape(verdict.sentence)}">'
            f'{escape(verdict.form)}</div>{estimates_line(verdict)}</div><div class="claim-bar">{bar}</div></li>')


def committed_claims(verdicts: list[ClaimVerdict]) -> str:
    """The judged claims one by one; those the tier could not judge in one line, as they say little more."""
    not_judged = [verdict for verdict in verdicts if verdict.verdict == "not judged"]
    judged = "".join(committed_claim(verdict) for verdict in verdicts if verdict.verdict != "not judged")
    if not not_judged:
        return judged
    reasons = list(dict.fromkeys(verdict.reason for verdict in not_judged))
    forms = "; ".join(f'<span title="{escape(verdict.sentence)}">{escape(verdict.form)}</span>'
                      for verdict in not_judged)
    return (f'{judged}<li class="not-judged"><div class="claim-verdict">{badge("not judged", len(not_judged))}</div>'
            f'<div class="claim-body"><div class="form">{forms}</div>'
            + (f'<div class="claim-why">{escape(reasons[0])}</div>' if len(reasons) == 1 else "")
            + '</div><div class="claim-bar"></div></li>')


def committed_list(committed: list[CommittedVerdicts]) -> str:
    """Each experiment's committed verdicts under where they came from and the command that makes them again."""
    blocks = []
    for experiment in committed:
        title = (f'<a href="{escape(experiment.report_link)}">{escape(experiment.title)}</a>'
                 if experiment.report_link else escape(experiment.title))
        claims = (f'<p class="bad">verdicts.json could not be read: {escape(experiment.problem)}</p>'
                  if experiment.problem else f'<ul class="claims">{committed_claims(experiment.verdicts)}</ul>')
        blocks.append(f'<article class="committed-experiment" id="nightly-{anchor(experiment.experiment)}">'
                      f'<div class="group-head"><span class="group-title">{title}</span>'
                      f'<span class="card-badges">{counts(experiment.verdicts)}</span></div>'
                      f"{provenance(experiment)}{claims}</article>")
    return f'<div class="committed" id="nightly-list">{"".join(blocks)}</div>'


def own_verdicts(experiments: list[IndexEntry], verdicts: dict[str, list[ClaimVerdict] | None], tier: str) -> str:
    """The tier's judged claims in the verdict table; the claims its budgets cannot judge in one collapsed line."""
    judged = {name: [verdict for verdict in claims or [] if verdict.verdict != "not judged"]
              for name, claims in verdicts.items()}
    not_judged = [(name, verdict) for name, claims in verdicts.items() for verdict in claims or []
                  if verdict.verdict == "not judged"]
    with_judged = [experiment for experiment in experiments if judged[experiment.name]]
    table = verdict_table(with_judged, judged) if with_judged else ""
    if not not_judged:
        return table
    items = "".join(f"<li><code>{escape(name)}</code> · {escape(verdict.form)} "
                    f'<span class="muted">({escape(verdict.reason)})</span></li>' for name, verdict in not_judged)
    summary = (f"{plural(len(not_judged), 'claim')} {'are' if len(not_judged) != 1 else 'is'} not judged at the "
               f'{escape(tier)} tier: its budgets are too small; see the <a href="#{NIGHTLY}">committed {NIGHTLY} '
               "verdicts</a>")  # beside this panel on a wide screen, above it on a narrow one
    return f'{table}<details class="not-judged-here"><summary>{summary}</summary><ul>{items}</ul></details>'


def smoke_top(results_dir: Path, index: IndexReport, verdicts: dict[str, list[ClaimVerdict] | None],
              tier: str) -> tuple[str, str, dict[str, str]]:
    """The masthead's tally, the panels above the experiments, and each experiment's badges."""
    checks = smoke_checks(results_dir, [experiment.name for experiment in index.experiments])
    nightly = nightly_dir(results_dir)
    ran_here = {check.name for check in checks.experiments}
    committed = sorted(committed_verdicts(nightly, results_dir.resolve()),
                       key=lambda entry: entry.experiment not in ran_here)  # this run's experiments first
    passed = sum(stage.status == "passed" for stage in checks.stages)
    nightly_verdicts = [verdict for experiment in committed for verdict in experiment.verdicts]
    tally = " ".join([
        check_badge(f"{passed} of {len(checks.stages)} stages passed", share_kind(passed, len(checks.stages))),
        above_random_badge(checks.signals),
        *([f'<span class="tally-label">{escape(NIGHTLY)}:</span> {counts(nightly_verdicts)}'] if nightly_verdicts
          else [])])
    titles = {check.name: check.title for check in checks.experiments}
    signals = (signals_table(checks.signals, titles) if checks.signals
               else '<p class="muted">No variant has run yet.</p>')
    committed_html = (committed_list(committed) if committed else
                      f'<p class="muted">No committed verdicts beside this results directory (looked for '
                      f"<code>{escape(str(nightly))}/*/verdicts.json</code>). Make them with "
                      f"<code>./run_all.sh --tier {NIGHTLY}</code>.</p>")
    panels = f"""<section class="panel" id="checks"><h2>What this smoke run checked</h2>
<p class="lead">The smoke tier runs every stage of the pipeline on tiny budgets, in minutes: it shows that the code
runs end to end and starts to learn, not what it reproduces.</p>
{stage_strip(checks.stages)}
{checks_table(checks.experiments)}
{problems_list(checks.experiments, checks.without_plan, results_dir)}</section>
<div class="side-by-side">
<div class="column">
<section class="panel" id="learning"><h2>First learning signal, against a random policy</h2>
<p class="lead"><strong>Above random</strong>: the smoke score (the mean over seeds, under the spec's score rule)
beats a uniformly random policy's mean return by more than one standard deviation of a random episode's return
(<code>results/baselines/random_scores.csv</code>). Smoke budgets are tiny: <strong>not above random yet</strong> is an
honest answer for a slow starter.</p>
<p class="legend"><span><span class="key score good"></span> smoke score</span>
<span><span class="key best"></span> best evaluation</span>
<span><span class="key band"></span> random policy, from its mean to one standard deviation above it</span></p>
{signals}</section>
<section class="panel" id="verdicts"><h2>This run's own verdicts</h2>{own_verdicts(index.experiments, verdicts, tier)}
</section>
</div>
<section class="panel" id="nightly"><h2>Committed {escape(NIGHTLY)} verdicts</h2>
<p class="lead">What the {escape(NIGHTLY)} budgets judged, as committed in
<code>{escape(nightly.parent.name)}/{escape(NIGHTLY)}/</code> (this smoke run did not redo them). P(improvement): how
likely a run of the first method beats one of the second; 0.5 is no difference. Brackets: 95% CIs.</p>
{committed_html}</section>
</div>"""
    badges = {check.name: " ".join([
        check_badge(f"{check.completed}/{check.planned} runs finished", share_kind(check.completed, check.planned)),
        above_random_badge([signal for signal in checks.signals if signal.experiment == check.name])])
        for check in checks.experiments}
    return tally, panels, badges


def verdicts_top(index: IndexReport, verdicts: dict[str, list[ClaimVerdict] | None]) -> tuple[str, str, dict[str, str]]:
    """A tier that judges claims (nightly, paper): every verdict at the top."""
    judged = [verdict for claims in verdicts.values() if claims for verdict in claims]
    summary = (f"{len(judged)} claim{'s' * (len(judged) != 1)} in "
               f"{len(index.experiments)} experiment{'s' * (len(index.experiments) != 1)}")
    panels = f"""<section class="panel" id="verdicts"><h2>Verdicts</h2><p class="muted">{summary}. P(improvement): the
probability that a run of the first method beats a run of the second on a task; 0.5 means no difference. In brackets:
95% CIs.</p>
{verdict_table(index.experiments, verdicts)}</section>"""
    badges = {name: counts(claims) if claims else "" for name, claims in verdicts.items()}
    return counts(judged), panels, badges


def render_page(results_dir: Path) -> str:
    """The page, from RESULTS_DIR/report.json and each experiment's report.json and verdicts.json; every file is read
    (and checked) before anything is written."""
    index = read_index_report(results_dir)
    names = [entry.name for entry in index.experiments]
    verdicts = {name: content.verdicts if (content := read_verdicts_file(
                    results_dir / name / "verdicts.json", name)) else None for name in names}
    reports = {name: read_experiment_report(path, name) if (path := results_dir / name / REPORT_JSON).is_file()
               else None for name in names}
    tier = results_dir.resolve().name
    # A smoke run judges no claim, so its page leads with what it did check.
    smoke = plans_tier(results_dir, names) == "smoke"
    tally, panels, badges = smoke_top(results_dir, index, verdicts, tier) if smoke else verdicts_top(index, verdicts)
    cards = "".join(experiment_card(entry, badges.get(entry.name, "")) for entry in index.experiments)
    sections = "\n".join(experiment_section(results_dir, entry, reports[entry.name], badges.get(entry.name, ""),
                                            set(names)) for entry in index.experiments)
    return render("page.html.j2", index=index, tier=tier, smoke=smoke, tally=Markup(tally), panels=Markup(panels),
                  cards=Markup(cards), sections=Markup(sections), href=partial(page_link, experiments=set(names)),
                  style=Markup((STATIC / "report.css").read_text()), script=Markup((STATIC / "report.js").read_text()))


def write_html_report(results_dir: Path) -> Path:
    """Write RESULTS_DIR/report.html from the reports' data (RESULTS_DIR/report.json, each experiment's report.json)
    and the experiments' verdicts.json; its path. FileNotFoundError or ValueError, writing nothing, when the index's
    report.json is missing or a file cannot be read."""
    page = results_dir / "report.html"
    # Character references for everything beyond ASCII: the file reads the same whatever the locale's encoding.
    write_atomic(page, render_page(results_dir).encode("ascii", "xmlcharrefreplace").decode("ascii"))
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.html",
                                     description="Write RESULTS_DIR/report.html, one self-contained page with every "
                                                 "claim's verdict, every experiment's report and its figures.")
    parser.add_argument("results_dir", type=Path, metavar="RESULTS_DIR",
                        help="a results tier holding report.json (written by python -m analysis), e.g. results/nightly")
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
