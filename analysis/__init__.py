"""Aggregate a sweep's results into tables, figures and reports: `python -m analysis RESULTS_DIR`.

For every RESULTS_DIR/<experiment>/spec.json it writes, beside the spec:
    table.csv                       one row per (variant, env): mean score, 95% bootstrap CI, published score and verdict
    figures/learning_curves.png     evaluation return over environment steps, mean and 95% CI across seeds
    figures/final_scores.png        every seed's score, with the mean and CI of the table
    report.md                       what the experiment reproduces, its budget, protocol, table and figures
and RESULTS_DIR/report.md, the index of all experiments. An experiment none of whose runs is on disk
keeps the files it has (the committed nightly reports, say), so rerunning and re-analysing one experiment
leaves the others' reports alone. Every report says the git commit it was written at, and the runs' own
commits (from their config.json) when those differ.
"""
