"""Run one job in this process: `python -m runner.job RUN_DIR` (RUN_DIR holds job.json).
The local backend starts one of these per run. A checkpoint in RUN_DIR (left by an interrupted
attempt at the same job) is continued; without one the run starts from step 0."""

import json
import sys
from pathlib import Path

import algos
from common.config import config_from_dict


def main(run_dir: str) -> None:
    job = json.loads((Path(run_dir) / "job.json").read_text())
    module = algos.load(job["algo"])
    module.train(config_from_dict(module.Config, job["config"]), job["seed"], run_dir, resume=True)


if __name__ == "__main__":
    main(sys.argv[1])
