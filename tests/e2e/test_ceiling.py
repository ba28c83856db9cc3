"""The ceiling benchmark's perfect extraction: the feature job's examples, latent statistics."""

from __future__ import annotations

import json

import pytest

from benchmarks.ceiling import perfect_user_examples
from components.nightly_features.job import run_feature_job
from components.nightly_features.user_history import pseudonymise
from synthetic.generate import DEFAULT_START_DATE, FaultRates, generate_dataset, user_id
from transforms import features as fc
from transforms.tf_example import read_examples

SALT = b"ceiling-test-salt-0123456789abcd"
SEED, USERS, CYCLES = 9, 3, 2
BEAM_ARGS = ["--runner=DirectRunner", "--direct_running_mode=in_memory",
             "--direct_num_workers=1"]
NO_FAULTS = FaultRates(**dict.fromkeys(FaultRates().to_dict(), 0.0))


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """The feature job's examples of a small fault-free dataset, by (user id, night)."""
    root = tmp_path_factory.mktemp("ceiling")
    generate_dataset(root / "data", users=USERS, cycles=CYCLES, seed=SEED, faults=NO_FAULTS,
                     progress=False)
    run_feature_job(str(root / "data"), str(root / "out"), SALT, BEAM_ARGS)
    users = {pseudonymise(user_id(i), SALT): user_id(i) for i in range(USERS)}
    rows = read_examples(str(root / "out" / "examples" / "Split-*" / "*.gz"))
    manifest = json.loads((root / "data" / "manifest.json").read_text())
    latents = {(n["user_id"], n["date"]): n["latent"] for n in manifest["nights"]}
    return {(users[r[fc.USER_KEY][0].decode()], r[fc.NIGHT_DATE][0].decode()): r
            for r in rows}, latents


@pytest.mark.e2e
def test_perfect_examples_are_the_jobs_examples_with_latent_statistics(measured):
    by_night, latents = measured
    compared = 0
    for index in range(USERS):
        uid, examples = perfect_user_examples(SEED, index, CYCLES, DEFAULT_START_DATE)
        assert uid == user_id(index)
        for example in examples:
            night = example[fc.NIGHT_DATE][0].decode()
            job = by_night.get((uid, night))
            if job is None:  # the job drops nights the app could not have read
                continue
            compared += 1
            for name in (fc.LABEL_KEY, fc.CYCLE_DAY, fc.PREV_CYCLE_LENGTHS, fc.PREV_CYCLE_COUNT,
                         fc.CYCLE_REGULARITY):
                assert example[name] == job[name], (uid, night, name)
            latent = latents[(uid, night)]
            # the manifest rounds latents; the job reads them from 10-second rows
            assert example["skin_temp"][0] == pytest.approx(latent["skin_temp_c"], abs=1e-3)
            assert job["skin_temp"][0] == pytest.approx(latent["skin_temp_c"], abs=0.1)
            assert example["heart_rate"][0] == pytest.approx(job["heart_rate"][0], abs=1.5)
    # without faults the job keeps every night: all of them were compared
    assert compared == len(by_night) > 100
