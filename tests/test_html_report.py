"""RESULTS_DIR/report.html (analysis.html) on a hand-built results tier: one self-contained file, the verdict table,
each experiment's section rendered from its report.json (the data its report.md is rendered from, so both show the
same), escaping, bad report.json and verdicts.json named; a smoke tier's page, which leads with what the run checked,
each algorithm against a random policy and the committed nightly verdicts; then the pages in headless Chromium, where
every figure must load and the top shows what it should."""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import struct

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from analysis.browser import SCREENSHOT_SIZE, run_headless, screenshot  # noqa: E402
from analysis.html import decimals, main, write_html_report  # noqa: E402
from analysis.report import report_markdown  # noqa: E402
from analysis.report_file import (Claims, Column, ExperimentReport, Facts, Figure, IndexEntry,  # noqa: E402
                                  IndexReport, Paragraph, VariantBudget, code, emphasis, link, report_json, strong,
                                  table_of, text, verdict as verdict_span)
from browser import dom_after_load, require_browser  # noqa: E402
from test_front_page import (NIGHTLY_COMMIT, NIGHTLY_DATE, NO_RANDOM_TASK, OLD, SMOKE, SMOKE_CLAIMS,  # noqa: E402
                             build_smoke_tier)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
HOSTILE_TITLE = "Alpha <script>alert('x')</script> vs beta"
EXPERIMENTS = {"alpha_vs_beta": HOSTILE_TITLE, "gamma": "Gamma & friends"}
FIGURES = ("learning_curves.png", "final_scores.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def verdict(claim: str, kind: str, poi: float | None, poi_ci: list | None, difference: float | None,
            difference_ci: list | None, reason: str) -> dict:
    return {"claim": claim, "sentence": f"The paper says {claim}.", "form": f"{claim}: final score, IQM, 1 task",
            "verdict": kind, "probability_of_improvement": poi, "poi_ci": poi_ci, "aggregate": "IQM",
            "difference": difference, "difference_ci": difference_ci, "tasks": 1, "seeds_a": 5, "seeds_b": 4,
            "reason": reason}


VERDICTS = {
    "alpha_vs_beta": [
        verdict("alpha_beats_beta", "reproduced", 0.73, [0.6, 0.85], 1.2, [0.1, 2.0], "The CI lies above 0.5."),
        verdict("alpha_beats_gamma", "contradicted", 0.2, [0.05, 0.4], -30.5, [-60.0, -2.5], "The CI lies below 0.5.")
        | {"decided_by": "aggregate_difference"},
    ],
    "gamma": [
        verdict("gamma_beats_alpha", "inconclusive", 0.55, [0.3, 0.8], 0.5, [-1.0, 2.0], "The CI contains 0.5."),
        verdict("gamma_matches_paper", "not judged", None, None, None, None, "No published number to compare with."),
    ],
}
SCORE_COLUMNS = [Column(header="variant"), Column(header="env"), Column(header="seeds", numeric=True),
                 Column(header="score (mean)", numeric=True), Column(header="95% CI", numeric=True),
                 Column(header="per-seed scores"), Column(header="missing / failed")]


def experiment_report(name: str, title: str) -> ExperimentReport:
    """A report as analysis.report.experiment_report makes it: a variant's own budget under the budget, a claims
    table with a verdict and a pipe in a cell, a diagnosis, a score table, figures; gamma's links alpha's report."""
    facts = Facts(
        reproduces={"paper": "Someone et al. 2000", "table": "Table 1", "claim": "alpha beats beta"}, tier="nightly",
        total_steps={"CartPole-v1": 1000}, seeds=[0, 1, 2],
        per_variant=[VariantBudget(variant="beta", total_steps={"CartPole-v1": 2000}, environments=["CartPole-v1"],
                                   why="it learns slower")],
        published=[], context=[], normalization={"CartPole-v1": "raw score (no reference score declared)"},
        score_rule="eval_last_10pct", score_rule_text="mean evaluation return", reps=100,
        protocols={"CartPole-v1": "env_version=v1"}, commit=COMMIT, runs_commits=[], written="2030-01-02 03:04",
        versions={"python": "3.11.7"})
    claims = Claims(
        table=table_of([Column(header="claim"), Column(header="verdict"), Column(header="P(A > B) [95% CI]")],
                       [["alpha | beta: alpha wins", text(verdict_span("reproduced")), "0.73 [0.60, 0.85]"]]),
        note=text("Verdicts: ", strong("contradicted"), " when the CI lies below (for ", emphasis("at least as good"),
                  ": below 0.4)."),
        diagnoses_note=text("Why each verdict that is not ", emphasis("reproduced"), " is what it is."),
        diagnoses=[text(strong("alpha_beats_gamma"), " (contradicted): ", strong("proxy"), ": seed 1 of beta ",
                        strong("failed"), " at step 900. Evidence: ", code("docs/x.md"), ".")])
    scores = table_of(SCORE_COLUMNS, [
        ["alpha", "CartPole-v1", "3/3", "1,447.0", "[1,394.0, 1,500.0]", "s0 1,394.0, s1 1,500.0, s2 1,447.0", ""],
        ["beta", "CartPole-v1", "2/3", "12.5", "[12.0, 13.0]", "s0 12.0, s2 13.0", "s1 failed"]])
    aggregates = [Paragraph(text=text("compare with ", link("the alpha experiment", "../alpha_vs_beta/report.md")))
                  if name == "gamma" else Paragraph(text=text(emphasis("Nothing to aggregate.")))]
    return ExperimentReport(experiment=name, title=title, facts=facts, claims=claims, scores=scores,
                            figures=[Figure(path=f"figures/{figure}", alt=alt) for figure, alt in
                                     zip(FIGURES, ("Learning curves", "Final scores per seed"))],
                            aggregates=aggregates)


@pytest.fixture(scope="module")
def png() -> bytes:
    figure, axes = plt.subplots(figsize=(3, 2))
    axes.plot([0, 1, 2], [0, 1, 4])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=60)
    plt.close(figure)
    return buffer.getvalue()


@pytest.fixture
def results(tmp_path, png):
    """A results tier as python -m analysis leaves it: each experiment's report.json and the report.md rendered from
    it, its verdicts.json and figures; the index's report.json."""
    results_dir = tmp_path / "nightly"
    for name, title in EXPERIMENTS.items():
        experiment_dir = results_dir / name
        (experiment_dir / "figures").mkdir(parents=True)
        for figure in FIGURES:
            (experiment_dir / "figures" / figure).write_bytes(png)
        report = experiment_report(name, title)
        (experiment_dir / "report.json").write_text(report_json(report))
        (experiment_dir / "report.md").write_text(report_markdown(report))
        (experiment_dir / "verdicts.json").write_text(json.dumps(
            {"experiment": name, "title": title, "tier": "nightly", "verdicts": VERDICTS[name]}))
    (results_dir / "report.json").write_text(report_json(IndexReport(
        title="Results: nightly", commit=COMMIT, sweep=text("Newest sweep: ", strong("wall time 1.0 min")),
        experiments=[IndexEntry(name=name, title=title) for name, title in EXPERIMENTS.items()])))
    return results_dir


def verdict_table(page: str) -> str:
    return re.search(r'<table class="verdicts" id="verdict-table">(.*?)</table>', page, flags=re.DOTALL).group(1)


def section(page: str, experiment: str) -> str:
    return re.search(rf'<section class="experiment" id="{experiment}">.*?</section>', page, flags=re.DOTALL).group(0)


def test_the_page_is_one_file_with_every_figure_embedded(results, png):
    before = {path.relative_to(results) for path in results.rglob("*")}
    page_path = write_html_report(results)
    assert page_path == results / "report.html"
    assert {path.relative_to(results) for path in results.rglob("*")} - before == {page_path.relative_to(results)}
    page = page_path.read_text()
    for external in ('src="http', 'href="http', "<link", "@import", "url("):
        assert external not in page
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == len(EXPERIMENTS) * len(FIGURES)
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.removeprefix("data:image/png;base64,")) == png
    assert page.isascii()  # non-ASCII text is written as character references


def test_the_verdict_table_lists_every_claim_with_its_badge_and_numbers(results):
    table = verdict_table(write_html_report(results).read_text())
    for name, claims in VERDICTS.items():
        assert f'href="#{name}"' in table
        for claim in claims:
            row = re.search(rf'<tr class="{claim["verdict"].replace(" ", "-")}">(?:(?!</tr>).)*'
                            rf'<code>{claim["claim"]}</code>.*?</tr>', table, flags=re.DOTALL).group(0)
            assert f'<span class="badge {claim["verdict"].replace(" ", "-")}">{claim["verdict"]}</span>' in row
            assert claim["reason"] in row and "5 vs 4" in row
    # hand-formatted: probabilities with two decimals, differences with three significant digits and a sign
    assert '0.73</div><div class="ci-text">[0.60, 0.85]' in table
    assert '+1.20</div><div class="ci-text">[+0.10, +2.00]' in table
    assert '-30.5</div><div class="ci-text">[-60.0, -2.5]' in table
    assert 'left:60.0%;width:25.0%' in table and 'class="point" style="left:73.0%"' in table  # the CI bar
    # the figure that decided each verdict is marked: P(A > B) by default, the difference where the claim names it
    row = table[table.index("<code>alpha_beats_gamma</code>"):]
    row = row[:row.index("</tr>")]
    assert row.count('class="decides"') == 1
    assert row.index('class="decides"') > row.index("-30.5</div>")  # on the difference, not on P(A > B)
    row = table[table.index("<code>alpha_beats_beta</code>"):]
    row = row[:row.index("</tr>")]
    assert row.count('class="decides"') == 1 and row.index('class="decides"') < row.index("+1.20</div>")


@pytest.mark.parametrize("value, places", [(0.5, 2), (0.004, 2), (1.2, 2), (-30.5, 1), (321.9, 0), (0, 0)])
def test_differences_show_three_significant_digits_and_at_most_two_decimals(value, places):
    assert decimals(value) == places


def test_each_experiment_has_a_section_and_links_to_it(results):
    page = write_html_report(results).read_text()
    cards = re.search(r'<nav class="panel" id="experiments">(.*?)</nav>', page, flags=re.DOTALL).group(1)
    for name in EXPERIMENTS:
        assert page.count(f'<section class="experiment" id="{name}">') == 1
        assert f'href="#{name}"' in verdict_table(page) and f'href="#{name}"' in cards
    assert '<a href="#alpha_vs_beta">the alpha experiment</a>' in page  # gamma/../alpha_vs_beta/report.md
    assert "rlrepro · nightly tier".encode("ascii", "xmlcharrefreplace").decode() in page
    assert f"<p>Index written at commit <code>{COMMIT}</code>.</p>" in page
    assert "<p>Newest sweep: <strong>wall time 1.0 min</strong></p>" in page  # from the index's report.json


def test_each_section_shows_its_report_json(results):
    page = write_html_report(results).read_text()
    gamma = section(page, "gamma")
    assert "<dt>Budget</dt><dd>1,000 environment steps per run;" in gamma  # the facts: a definition list
    assert ("<dd>1,000 environment steps per run; 3 seeds (0, 1, 2) per variant and environment"
            "<ul><li><code>beta</code>: 2,000 steps on CartPole-v1: it learns slower</li></ul></dd>") in gamma
    assert "<dt>Score</dt><dd>mean evaluation return (<code>eval_last_10pct</code>); 95% CI:" in gamma
    assert "<p>Experiment <code>gamma</code>.</p>" in gamma
    assert page.count("<h3>Claims</h3>") == page.count("<h3>Scores</h3>") == 2
    assert ('<td class="word">alpha | beta: alpha wins</td><td class="word"><span class="badge reproduced">reproduced'
            '</span></td>') in gamma  # a verdict is shown as its badge
    assert "(for <em>at least as good</em>: below 0.4)" in gamma
    assert ("<li><strong>alpha_beats_gamma</strong> (contradicted): <strong>proxy</strong>: seed 1 of beta "
            "<strong>failed</strong> at step 900. Evidence: <code>docs/x.md</code>.</li>") in gamma
    header = '<th class="word">variant</th><th class="word">env</th><th class="num">seeds</th>'
    assert page.count(header) == 2
    assert '<td class="num">1,447.0</td><td class="num">[1,394.0, 1,500.0]</td>' in gamma
    assert '<td class="prose">s0 1,394.0, s1 1,500.0, s2 1,447.0</td>' in gamma  # long: may wrap
    assert '<td class="word">s0 12.0, s2 13.0</td>' in gamma
    assert '<div class="figures"><figure><img src="data:image/png;base64,' in gamma  # side by side
    assert "<figcaption>Final scores per seed</figcaption>" in gamma


def test_report_md_and_the_page_show_the_same_report_json(results):
    """Both are rendered from report.json: what it says, both say, and a change to it changes both."""
    path = results / "gamma" / "report.json"
    content = json.loads(path.read_text())
    content["claims"]["table"]["rows"][0][1] = [{"text": "contradicted", "style": "verdict"}]
    content["scores"]["rows"][1][3] = [{"text": "99.5"}]
    path.write_text(json.dumps(content))
    report = ExperimentReport.model_validate(content)
    markdown = report_markdown(report)
    gamma = section(write_html_report(results).read_text(), "gamma")
    assert "| alpha \\| beta: alpha wins | **contradicted** | 0.73 [0.60, 0.85] |" in markdown
    assert ('<td class="word">alpha | beta: alpha wins</td><td class="word"><span class="badge contradicted">'
            "contradicted</span></td>") in gamma
    assert "| beta | CartPole-v1 | 2/3 | 99.5 | [12.0, 13.0] | s0 12.0, s2 13.0 | s1 failed |" in markdown
    assert '<td class="num">2/3</td><td class="num">99.5</td>' in gamma
    assert "12.5" not in gamma and "12.5" not in markdown
    # the same words, marked up twice
    assert "![Final scores per seed](figures/final_scores.png)" in markdown and "compare with [the alpha experiment]" \
        "(../alpha_vs_beta/report.md)" in markdown


def test_text_is_escaped(results):
    page = write_html_report(results).read_text()
    assert "Alpha &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; vs beta" in page
    assert "Alpha &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; vs beta" in section(page, "alpha_vs_beta")
    assert "<script>alert" not in page and page.count("<script") == 1  # only the page's own images-loaded script
    assert "Gamma &amp; friends" in page


def test_a_missing_figure_is_shown_as_missing(results):
    (results / "gamma" / "figures" / "final_scores.png").unlink()
    page = write_html_report(results).read_text()
    assert len(re.findall(r"<img ", page)) == len(EXPERIMENTS) * len(FIGURES) - 1
    assert ('<p class="missing-figure">Figure Final scores per seed (gamma/figures/final_scores.png) not found.</p>'
            in page)


def test_an_experiment_without_verdicts_is_listed_as_not_judged_yet(results):
    (results / "gamma" / "verdicts.json").unlink()
    table = verdict_table(write_html_report(results).read_text())
    assert "no verdicts.json yet" in table and 'href="#gamma"' in table and "gamma_beats_alpha" not in table


def test_a_report_written_before_report_json_is_linked_not_converted(results):
    """A committed report.md of the time before report.json: the page says so and links it."""
    (results / "gamma" / "report.json").unlink()
    gamma = section(write_html_report(results).read_text(), "gamma")
    assert '<p class="missing-report">This report was written before reports kept their data' in gamma
    assert '<a href="gamma/report.md">gamma/report.md</a>' in gamma
    assert "<code>./run_all.sh --tier nightly --only gamma</code>" in gamma
    assert "<h3>Claims</h3>" not in gamma and '<span class="badge inconclusive">1 inconclusive</span>' in gamma
    (results / "gamma" / "report.md").unlink()
    assert "<p>No runs on disk and no report yet.</p>" in section(write_html_report(results).read_text(), "gamma")


@pytest.mark.parametrize("change, message", [
    (lambda content: content["verdicts"][1].update(verdict="maybe"),
     "verdicts[1].verdict: expected one of ['reproduced', 'contradicted', 'inconclusive', 'not judged'], got 'maybe'"),
    (lambda content: content["verdicts"][0].pop("reason"),
     "verdicts[0].reason: expected a value (the key is required)"),
    (lambda content: content["verdicts"][0].update(poi_ci=[0.9, 0.1]),
     "verdicts[0].poi_ci: expected [low, high] with low <= high, got [0.9, 0.1]"),
    (lambda content: content["verdicts"][0].update(probability_of_improvement=1.5),
     "verdicts[0].probability_of_improvement: expected a number <= 1, got 1.5"),
    (lambda content: content["verdicts"][0].update(seeds_a="5"),
     "verdicts[0].seeds_a: expected a value of type int, got '5'"),
    (lambda content: content.update(experiment="gamma"), "experiment: expected its folder's name 'alpha_vs_beta'"),
], ids=["unknown verdict", "missing field", "reversed CI", "probability above 1", "seeds as text", "other experiment"])
def test_a_bad_verdicts_file_is_named_with_its_field(results, change, message):
    path = results / "alpha_vs_beta" / "verdicts.json"
    content = copy.deepcopy(json.loads(path.read_text()))
    change(content)
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError) as error:
        write_html_report(results)
    assert str(path) in str(error.value) and message in str(error.value)
    assert not (results / "report.html").exists()


@pytest.mark.parametrize("file, change, message", [
    ("gamma/report.json", lambda content: content["scores"]["rows"][0].pop(),
     "scores.rows[0]: expected 7 cells, one per column, got 6"),
    ("gamma/report.json", lambda content: content["claims"]["note"][0].update(style="bold"),
     "claims.note[0].style: expected one of ['text', 'strong', 'emphasis', 'code', 'verdict', 'link'], got 'bold'"),
    ("gamma/report.json", lambda content: content["aggregates"][0].update(kind="list"),
     "aggregates[0].kind: expected one of ['paragraph', 'table', 'figures'], got 'list'"),
    ("gamma/report.json", lambda content: content["facts"].pop("tier"), "facts.tier: expected a value"),
    ("gamma/report.json", lambda content: content.update(experiment="alpha_vs_beta"),
     "experiment: expected its folder's name 'gamma'"),
    ("report.json", lambda content: content["experiments"][0].pop("title"), "experiments[0].title: expected a value"),
], ids=["a cell short", "unknown style", "unknown block", "missing fact", "other experiment", "index entry"])
def test_a_bad_report_json_is_named_with_its_field(results, file, change, message):
    path = results / file
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError) as error:
        write_html_report(results)
    assert str(path) in str(error.value) and message in str(error.value)
    assert not (results / "report.html").exists()


def test_a_report_json_that_is_not_json_is_named(results, capsys):
    path = results / "gamma" / "report.json"
    path.write_text(path.read_text()[:100])
    assert main([str(results)]) == 2
    error = capsys.readouterr().err
    assert f"{path}: expected a JSON file (" in error and f"python -m analysis {results}" in error
    assert not (results / "report.html").exists()


def test_the_command_needs_the_index_data(results, tmp_path, capsys):
    """A results tier analysed before report.json existed (its report.md only): the page asks for the analysis."""
    (results / "report.json").unlink()
    assert main([str(results)]) == 2
    error = capsys.readouterr().err
    assert f"{results / 'report.json'} not found; write it with python -m analysis {results}" in error
    assert not (results / "report.html").exists()
    assert main([str(tmp_path / "nowhere")]) == 2


def test_the_page_loads_every_figure_in_a_headless_browser(results, tmp_path):
    require_browser()
    page = write_html_report(results)
    dom = dom_after_load(page)
    total = int(re.search(r'data-images-total="(\d+)"', dom).group(1))
    loaded = int(re.search(r'data-images-loaded="(\d+)"', dom).group(1))
    assert loaded == total == len(EXPERIMENTS) * len(FIGURES)
    assert verdict_table(dom).count('<span class="badge contradicted">contradicted</span>') == 1
    png = screenshot(page, tmp_path / "shots" / "page.png")
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and struct.unpack(">II", data[16:24]) == (1400, 2000)  # IHDR: the window


def test_the_browser_check_sees_a_broken_figure(results):
    """The images-loaded count is a real check: one corrupt data URI and it falls short of the total."""
    require_browser()
    page = write_html_report(results)
    html = page.read_text()
    page.write_text(html.replace('<img src="data:image/png;base64,', '<img src="data:image/png;base64,AAAA', 1))
    dom = dom_after_load(page)
    total = int(re.search(r'data-images-total="(\d+)"', dom).group(1))
    assert int(re.search(r'data-images-loaded="(\d+)"', dom).group(1)) == total - 1


# ---------------------------------------------------------------------------------------------------------------
# A smoke tier's page (the results of tests/test_front_page.py: a smoke tier analysed, a committed nightly beside it)
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return build_smoke_tier(tmp_path_factory.mktemp("tiers"))


def top_of(page: str) -> str:
    """What comes before the experiments' cards and sections: the part a smoke page leads with."""
    return page.split('<nav class="panel" id="experiments">')[0]


def signal_row(page: str, variant: str, task: str) -> str:
    rows = re.findall(r'<tr class="signal [a-z]+">.*?</tr>', page, flags=re.DOTALL)
    [row] = [row for row in rows if f"<strong>{variant}</strong>" in row and f">{task}<" in row]
    return row


def test_a_smoke_page_leads_with_the_checks_the_learning_signal_and_the_nightly_verdicts(smoke):
    page = write_html_report(smoke).read_text()
    top = top_of(page)
    places = [top.index(f'<section class="panel" id="{panel}">') for panel in ("checks", "learning", "verdicts",
                                                                                  "nightly")]
    assert places == sorted(places)
    stages = re.search(r'<ol class="stages" id="stages">(.*?)</ol>', top, flags=re.DOTALL).group(1)
    names = re.findall(r'<span class="stage-name">([^<]*)</span>', stages)
    assert names == ["Specs loaded and planned", "Runs finished", "Checkpoints written", "Evaluations done",
                     "Scores computed", "Analysis written"]
    runs = re.search(r'<li class="stage (\w+)">(?:(?!</li>).)*Runs finished.*?</li>', stages, flags=re.DOTALL)
    assert runs.group(1) == "partial" and "<strong>5</strong> of 8" in runs.group(0)
    assert "1 failed, 1 diverged, 1 never started" in runs.group(0)
    analysed = re.search(r'<li class="stage (\w+)">(?:(?!</li>).)*Analysis written.*?</li>', stages, flags=re.DOTALL)
    assert analysed.group(1) == "passed"
    checks = re.search(r'<table class="checks" id="checks-table">.*?</table>', top, flags=re.DOTALL).group(0)
    assert '<td class="num warn">5/8</td><td class="num bad">1</td><td class="num bad">1</td>' in checks
    assert "ValueError: bad observation shape" in top and f"smoke/{SMOKE}/runs/broken/CartPole-v1/seed_0/log.txt" in top
    assert '<span class="badge warn">2 of 6 stages passed</span>' in page  # the masthead's tally
    assert '<span class="badge warn">1 of 2 above random</span>' in page


def test_a_smoke_page_puts_each_algorithm_beside_a_random_policy(smoke):
    page = write_html_report(smoke).read_text()
    fast, slow = signal_row(page, "fast", "CartPole-v1"), signal_row(page, "slow", "CartPole-v1")
    assert '<span class="badge good">above random</span>' in fast and "165.0" in fast and "190.0" in fast
    assert '<span class="badge warn">not above random yet</span>' in slow and "22.5" in slow
    for row in (fast, slow):  # the random policy's CartPole score beside ours, with its spread
        assert ('<div class="estimate">22.2</div><div class="ci-text" title="mean &#177; standard deviation over 200 '
                'episodes">&#177; 11.5</div>') in row  # ±
    assert 'class="score good"' in fast and 'class="score warn"' in slow  # the dot on the strip
    assert '<span class="badge neutral">no random score measured</span>' in signal_row(page, "fast", NO_RANDOM_TASK)
    broken = signal_row(page, "broken", "CartPole-v1")
    assert '<span class="badge bad">no score yet</span>' in broken and "0/2 seeds" in broken


def test_a_smoke_page_shows_the_committed_nightly_verdicts_with_their_commit_and_command(smoke):
    top = top_of(write_html_report(smoke).read_text())
    nightly = re.search(r'<section class="panel" id="nightly">.*?</section>', top, flags=re.DOTALL).group(0)
    recorded = re.search(rf'<article class="committed-experiment" id="nightly-{SMOKE}">.*?</article>', nightly,
                         flags=re.DOTALL).group(0)
    assert (f'judged at commit <code title="{NIGHTLY_COMMIT}">{NIGHTLY_COMMIT[:10]}</code> on {NIGHTLY_DATE}'
            in recorded)
    assert f"<code>./run_all.sh --tier nightly --only {SMOKE}</code>" in recorded
    claims = re.findall(r'<li class="([a-z-]+)">(.*?)</li>', recorded, flags=re.DOTALL)
    assert [kind for kind, _ in claims] == ["reproduced", "contradicted", "not-judged"]
    assert '<span class="badge reproduced">reproduced</span>' in claims[0][1] and "fast_beats_slow" in claims[0][1]
    assert "P(improvement) <strong>0.90</strong> [0.70, 1.00]" in claims[0][1]
    assert '<span class="badge contradicted">contradicted</span>' in claims[1][1]
    # the claims the nightly tier cannot judge either: one line, each named, the shared reason once
    assert '<span class="badge not-judged">2 not judged</span>' in claims[2][1]
    assert "slow_matches_table_9" in claims[2][1] and "fast_matches_table_9" in claims[2][1]
    assert claims[2][1].count("the spec judges it in: paper") == 1
    old = re.search(rf'<article class="committed-experiment" id="nightly-{OLD}">.*?</article>', nightly,
                    flags=re.DOTALL).group(0)
    assert f'commit not recorded in verdicts.json; see <a href="../nightly/{OLD}/report.md">report.md</a>' in old
    assert f"<code>./run_all.sh --tier nightly --only {OLD}</code>" in old and "old_claim" in old


def test_a_smoke_page_folds_its_own_not_judged_claims_into_one_line(smoke):
    top = top_of(write_html_report(smoke).read_text())
    assert 'id="verdict-table"' not in top and '<tr class="not-judged">' not in top
    details = re.findall(r"<details[^>]*>.*?</details>", top, flags=re.DOTALL)
    assert len(details) == 1 and " open" not in details[0].split(">")[0]
    assert ('<summary>2 claims are not judged at the smoke tier: its budgets are too small; see the <a href="#nightly">'
            "committed nightly verdicts</a></summary>") in details[0]
    assert details[0].count("<li>") == len(SMOKE_CLAIMS)  # each claim, by its form (the claims here share one)


def test_a_claim_the_smoke_tier_does_judge_stays_in_the_verdict_table(smoke, tmp_path):
    path = smoke / SMOKE / "verdicts.json"
    original = path.read_text()
    content = json.loads(original)
    content["verdicts"][0].update(verdict="reproduced", probability_of_improvement=0.8, poi_ci=[0.6, 0.95])
    path.write_text(json.dumps(content))
    try:
        top = top_of(write_html_report(smoke).read_text())
    finally:
        path.write_text(original)
    table = verdict_table(top)
    assert f"<code>{SMOKE_CLAIMS[0]}</code>" in table and SMOKE_CLAIMS[1] not in table
    assert "<summary>1 claim is not judged at the smoke tier" in top


def test_a_nightly_page_keeps_its_verdicts_on_top(results):
    top = top_of(write_html_report(results).read_text())
    assert top.index('<section class="panel" id="verdicts">') < len(top)
    for smoke_only in ('id="checks"', 'id="learning"', 'id="nightly"', "<details"):
        assert smoke_only not in top
    assert verdict_table(top).count('<tr class="not-judged">') == 1  # a nightly page lists its not-judged claims


def test_the_smoke_page_in_a_headless_browser_shows_the_checks_and_the_verdicts_on_top(smoke, tmp_path):
    require_browser()
    page = write_html_report(smoke)
    dom = run_headless(page, "--dump-dom", f"--window-size={SCREENSHOT_SIZE[0]},{SCREENSHOT_SIZE[1]}")  # as shot
    assert int(re.search(r'data-images-loaded="(\d+)"', dom).group(1)) == int(
        re.search(r'data-images-total="(\d+)"', dom).group(1)) > 0
    tops = dict((name, int(top)) for name, top in re.findall(r"(\w+):(\d+)",
                                                             re.search(r'data-panel-tops="([^"]*)"', dom).group(1)))
    assert list(tops)[:4] == ["checks", "learning", "verdicts", "nightly"]
    # the checks on top, then the learning signal beside the nightly verdicts: all in the screenshot
    assert tops["checks"] < tops["learning"] == tops["nightly"] < SCREENSHOT_SIZE[1]
    png = screenshot(page, tmp_path / "smoke.png")
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and struct.unpack(">II", data[16:24]) == SCREENSHOT_SIZE
