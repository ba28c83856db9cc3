"""Scale-out is configuration: the feature job in several processes gives the one-process result."""

from __future__ import annotations

import gzip
import json

import pytest


@pytest.mark.e2e
def test_feature_job_on_the_direct_runner_in_multi_processing_mode(tmp_path):
    from components.nightly_features.job import run_feature_job
    from synthetic.generate import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, users=6, cycles=1, seed=21, progress=False)
    salt = b"scale-out-test-salt-0123456789"
    runs = {}
    for mode, workers in (("in_memory", 1), ("multi_processing", 2)):
        out = tmp_path / mode
        summary = run_feature_job(str(data), str(out), salt, [
            "--runner=DirectRunner", f"--direct_running_mode={mode}",
            f"--direct_num_workers={workers}"])
        ledger = sorted(json.dumps(json.loads(line), sort_keys=True)
                        for p in out.glob("quarantine/nights-*.jsonl.gz")
                        for line in gzip.open(p, "rt"))
        runs[mode] = (summary, ledger)
    assert runs["multi_processing"][0] == runs["in_memory"][0]
    assert runs["multi_processing"][1] == runs["in_memory"][1]
    assert runs["in_memory"][0]["valid_nights"] > 0
