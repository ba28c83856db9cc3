"""The measured processes' entry point: ``python -m benchmarks.jobs <job> ARGS...``.

``benchmarks.process.run_measured`` starts each job in a fresh process through this module and
reads the JSON it prints. The jobs live with what they measure (``process``: the feature job and
the whole run; ``nightly_cost``: the nightly path; ``plain_baseline``: the plain script); this
module only names them, so none of those modules needs to import another to be dispatched.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from benchmarks import nightly_cost, process
from benchmarks.plain_baseline import run_plain


def job_tfx(data_root: str, workdir: str, train_steps: str) -> dict:
    """The ``tfx`` job: one timed local pipeline run (no cache)."""
    return process.timed_run(data_root, workdir, int(train_steps))


def job_plain(data_root: str, train_steps: str) -> dict:
    """The ``plain`` job: the plain script (no Beam, no TFX) with the pipeline's training config."""
    from pipeline.config import TrainingConfig

    training = TrainingConfig()
    return run_plain(data_root, process.BENCH_SALT.encode(), int(train_steps),
                     training.eval_steps, training.seed, log=sys.stderr)


JOBS: dict[str, Callable[..., dict]] = {
    "features": process.job_features,
    "tfx": job_tfx,
    "plain": job_plain,
    "backfill": nightly_cost.job_backfill,
    "ingest": nightly_cost.job_ingest,
    "night-run": nightly_cost.job_night_run,
    "scoring": nightly_cost.job_scoring,
    "online": nightly_cost.job_online,
}


def main(argv: list[str]) -> int:
    """Run the job named first with the arguments after it; print its result as JSON."""
    import warnings

    warnings.filterwarnings("ignore")
    job, args = argv[0], argv[1:]
    if job not in JOBS:
        raise SystemExit(f"unknown benchmark job {job!r}")
    print(json.dumps(JOBS[job](*args), default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
