"""The Markdown report of one experiment; the index reuses it with deeper headings and paths from RESULTS_DIR."""

from __future__ import annotations

from analysis.table import SeedRun, read_json


def protocol_lines(runs: list[SeedRun]) -> list[str]:
    """The protocol the runs recorded in config.json: one line, or one per environment when they differ."""
    protocols = {}
    for run in runs:
        config = read_json(run.run_dir / "config.json") if run.env not in protocols else None
        if config and config.get("protocol"):
            protocols[run.env] = ", ".join(f"{key}={value}" for key, value in config["protocol"].items())
    if not protocols:
        return ["- **Protocol:** not recorded (no run has written its config.json yet)"]
    if len(set(protocols.values())) == 1:
        return [f"- **Protocol:** {next(iter(protocols.values()))}"]
    return [f"- **Protocol ({env}):** {protocol}" for env, protocol in protocols.items()]


def budget_text(total_steps: int | dict[str, int]) -> str:
    """One number, or one per environment when the spec gives each its own."""
    if isinstance(total_steps, int):
        return f"{total_steps:,}"
    if len(set(total_steps.values())) == 1:
        return f"{next(iter(total_steps.values())):,}"
    return ", ".join(f"{steps:,} ({env_id})" for env_id, steps in total_steps.items())


def experiment_section(spec: dict, runs: list[SeedRun], table_md: str, reps: int,
                       heading: str = "#", figures_dir: str = "figures") -> str:
    reproduces = spec.get("reproduces") or {}
    cited = ", ".join(str(reproduces[key]) for key in ("paper", "table") if reproduces.get(key))
    seeds = spec["seeds"]
    lines = [f"{heading} {spec['title']}", "", f"Experiment `{spec['name']}`.", ""]
    if reproduces:
        lines.append(f"- **Reproduces:** {cited}" + (f": {reproduces['claim']}" if reproduces.get("claim") else ""))
    lines += [
        f"- **Tier:** {spec['tier']}",
        f"- **Budget:** {budget_text(spec['total_steps'])} environment steps per run; {len(seeds)} seeds "
        f"({', '.join(map(str, seeds))}) per variant and environment",
        f"- **Score:** {spec['score_rule_text']} (`{spec['score_rule']}`); 95% CI: percentile bootstrap of the mean "
        f"over completed seeds (rliable, {reps} resamples)",
        *protocol_lines(runs),
        "",
        table_md,
        "",
        f"![Learning curves]({figures_dir}/learning_curves.png)",
        "",
        f"![Final scores per seed]({figures_dir}/final_scores.png)",
        "",
    ]
    return "\n".join(lines)
