"""Files written atomically: a temporary file beside the target, then a rename, so that a reader
(or a run killed mid-write) never sees half a file."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "wb" if isinstance(data, bytes) else "w") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def write_json(path: Path, value: object) -> None:
    write_atomic(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def write_csv(path: Path, columns: tuple[str, ...], rows: list[tuple]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue())


def path_part(env_id: str) -> str:
    """An env id as one path component: MinAtar/Breakout-v1 -> MinAtar-Breakout-v1 (run directories
    must not nest on the family prefix)."""
    return env_id.replace("/", "-")
