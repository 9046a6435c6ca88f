"""Throughput benchmarks and the random-policy baselines: measurements, not tests."""

from __future__ import annotations

from pathlib import Path

from core.files import write_atomic


def publish(text: str, output: Path | None) -> int:
    """Print a benchmark's Markdown and, when asked, write it (atomically) to `output`; the exit code."""
    print(text)
    if output:
        write_atomic(output, text)
    return 0
