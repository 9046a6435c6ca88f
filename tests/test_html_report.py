"""RESULTS_DIR/report.html (analysis.html) on a hand-built results tier: one self-contained file, the verdict table,
the Markdown our reports use, escaping, bad verdicts.json named; then the page in headless Chromium, where every
figure must load."""

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

from analysis.html import decimals, main, screenshot, write_html_report  # noqa: E402
from analysis.report import index_section  # noqa: E402
from browser import dom_after_load, require_browser  # noqa: E402

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
        verdict("alpha_beats_gamma", "contradicted", 0.2, [0.05, 0.4], -30.5, [-60.0, -2.5], "The CI lies below 0.5."),
    ],
    "gamma": [
        verdict("gamma_beats_alpha", "inconclusive", 0.55, [0.3, 0.8], 0.5, [-1.0, 2.0], "The CI contains 0.5."),
        verdict("gamma_matches_paper", "not judged", None, None, None, None, "No published number to compare with."),
    ],
}


def experiment_report(name: str, title: str) -> str:
    """A report as analysis.report.experiment_report writes it (a variant's own budget as a nested item, a claims
    table with an escaped pipe); gamma's adds a plain list with a link."""
    notes = ["Notes:", "", "- seed 1 of beta **failed** at step 900",
             "- compare with [the alpha experiment](../alpha_vs_beta/report.md)", ""] if name == "gamma" else []
    return "\n".join([
        f"# {title}", "", f"Experiment `{name}`.", "",
        "- **Reproduces:** Someone et al. 2000, Table 1: alpha beats beta",
        "- **Tier:** nightly",
        "- **Budget:** 1,000 environment steps per run; 3 seeds (0, 1, 2) per variant and environment",
        "  - `beta`: 2,000 steps on CartPole-v1: it learns slower",
        "- **Score:** mean evaluation return (`eval_last_10pct`); 95% CI: percentile bootstrap of the mean",
        f"- **Report written at commit:** `{COMMIT}`", "",
        "## Claims", "",
        "| claim | verdict | P(A > B) [95% CI] |", "|---|---|---|",
        "| alpha \\| beta: alpha wins | **reproduced** | 0.73 [0.60, 0.85] |", "",
        "Verdicts: **contradicted** when the CI lies below (for *at least as good*: below 0.4).", "",
        "## Scores", "",
        "| variant | env | seeds | score (mean) | 95% CI | per-seed scores | missing / failed |",
        "|---|---|---|---|---|---|---|",
        "| alpha | CartPole-v1 | 3/3 | 1,447.0 | [1,394.0, 1,500.0] | s0 1,394.0, s1 1,500.0, s2 1,447.0 |  |",
        "| beta | CartPole-v1 | 2/3 | 12.5 | [12.0, 13.0] | s0 12.0, s2 13.0 | s1 failed |", "",
        *notes,
        "![Learning curves](figures/learning_curves.png)", "",
        "![Final scores per seed](figures/final_scores.png)", ""])


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
    """A results tier as python -m analysis leaves it, with a verdicts.json per experiment."""
    results_dir = tmp_path / "nightly"
    sections = []
    for name, title in EXPERIMENTS.items():
        experiment_dir = results_dir / name
        (experiment_dir / "figures").mkdir(parents=True)
        for figure in FIGURES:
            (experiment_dir / "figures" / figure).write_bytes(png)
        report = experiment_report(name, title)
        (experiment_dir / "report.md").write_text(report)
        (experiment_dir / "verdicts.json").write_text(json.dumps(
            {"experiment": name, "title": title, "tier": "nightly", "verdicts": VERDICTS[name]}))
        sections.append(index_section(report, name))
    links = [f"- [{title}]({name}/report.md)" for name, title in EXPERIMENTS.items()]
    (results_dir / "report.md").write_text("\n".join(["# Results: nightly", "", f"Index written at commit `{COMMIT}`.",
                                                      "", *links, "", *sections]))
    return results_dir


def verdict_table(page: str) -> str:
    return re.search(r'<table class="verdicts" id="verdict-table">(.*?)</table>', page, flags=re.DOTALL).group(1)


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
    assert f"Index written at commit <code>{COMMIT}</code>." in page


def test_the_markdown_subset_is_rendered(results):
    page = write_html_report(results).read_text()
    assert '<dt>Budget</dt><dd>1,000 environment steps per run;' in page  # a "**Key:** value" list
    assert "<li>seed 1 of beta <strong>failed</strong> at step 900</li>" in page  # a plain list with bold
    assert "<p>Experiment <code>gamma</code>.</p>" in page
    assert ("<dd>1,000 environment steps per run; 3 seeds (0, 1, 2) per variant and environment"
            "<ul><li><code>beta</code>: 2,000 steps on CartPole-v1: it learns slower</li></ul></dd>") in page  # nested
    assert page.count("<h3>Claims</h3>") == page.count("<h3>Scores</h3>") == 2
    assert ('<td class="word">alpha | beta: alpha wins</td><td class="word"><span class="badge reproduced">reproduced'
            '</span></td>') in page  # a verdict in bold is shown as its badge
    assert "(for <em>at least as good</em>: below 0.4)" in page
    header = '<th class="word">variant</th><th class="word">env</th><th class="num">seeds</th>'
    assert page.count(header) == 2
    assert '<td class="num">1,447.0</td><td class="num">[1,394.0, 1,500.0]</td>' in page
    assert '<td class="prose">s0 1,394.0, s1 1,500.0, s2 1,447.0</td>' in page  # long: may wrap
    assert '<td class="word">s0 12.0, s2 13.0</td>' in page
    assert "<figcaption>Final scores per seed</figcaption>" in page


def test_text_is_escaped(results):
    page = write_html_report(results).read_text()
    assert "Alpha &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; vs beta" in page
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


@pytest.mark.parametrize("change, message", [
    (lambda content: content["verdicts"][1].update(verdict="maybe"),
     "verdicts[1].verdict: expected one of reproduced, contradicted, inconclusive, not judged, got 'maybe'"),
    (lambda content: content["verdicts"][0].pop("reason"), "verdicts[0] lacks reason"),
    (lambda content: content["verdicts"][0].update(poi_ci=[0.9, 0.1]),
     "verdicts[0].poi_ci: expected [low, high] or null, got [0.9, 0.1]"),
    (lambda content: content["verdicts"][0].update(probability_of_improvement=1.5),
     "verdicts[0].probability_of_improvement: expected a number in [0, 1] or null, got 1.5"),
    (lambda content: content["verdicts"][0].update(seeds_a="5"), "verdicts[0].seeds_a: expected a count of seeds"),
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


def test_an_index_whose_sections_do_not_match_its_links_is_refused(results):
    index = results / "report.md"
    index.write_text(index.read_text().split("\n## Gamma")[0])
    with pytest.raises(ValueError, match="2 links and 1 sections"):
        write_html_report(results)


def test_the_command_needs_the_index(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path / 'report.md'} not found" in error and "python -m analysis" in error


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
