"""Aggregate a sweep's results into tables, figures and reports: `python -m analysis RESULTS_DIR`.

For every RESULTS_DIR/<experiment>/spec.json (the tier's plan, runner.sweep.TierPlan) it writes, beside the spec:
    verdicts.json                   every claim of the spec judged in this tier (analysis.judging, analysis.verdicts;
                                    its format: analysis.verdicts_file)
    table.csv                       one row per (variant, env): mean score, 95% bootstrap CI, published score,
                                    ratio and where it falls in our CI
    figures/learning_curves.png     the quantity the score rule scores over environment steps, mean and 95% CI
                                    across seeds, published numbers as dashed lines
    figures/wall_clock_curves.png   the same against wall-clock seconds
    figures/final_scores.png        every seed's score, with the mean and CI of the table
    figures/aggregates.png, performance_profiles.png, probability_of_improvement.png, sample_efficiency.png
                                    rliable's views of the normalised scores across tasks (analysis.aggregates)
    report.json                     the report as data: its facts (budget, protocol, commits, versions), the claims
                                    table, the score table, the figures and the aggregates (its format:
                                    analysis.report_file)
    report.md                       the report rendered from report.json (templates/report.md.j2)
and RESULTS_DIR/report.json and report.md, the index of all experiments, and RESULTS_DIR/report.html, the same as
one self-contained page with every verdict at the top (analysis.html), each experiment's section rendered from its
report.json too: a page is rendered from data, never re-parsed from another page. An experiment none of whose runs
is on disk keeps the files it has (the committed nightly reports, say), so rerunning and re-analysing one experiment
leaves the others' reports alone; a report.md written before report.json existed is shown in the index as it is and
linked from the page. Every report says the git commit, date and package versions it
was written with, and the runs' own commits (from their config.json) when those differ.
"""
