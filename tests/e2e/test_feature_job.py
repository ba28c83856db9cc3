"""NightlyFeatureGen's Beam job on a small generated set, checked against its manifest."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import pytest

from components.nightly_features.job import run_feature_job
from components.nightly_features.user_history import pseudonymise
from synthetic.generate import FaultRates, generate_dataset
from tests.rawfiles import read_jsonl
from transforms import features as fc
from transforms.tf_example import read_examples

pytestmark = pytest.mark.e2e  # every test reads the Beam feature job's output

SALT = b"feature-job-test-salt-0123456789"
BEAM_ARGS = ["--runner=DirectRunner", "--direct_running_mode=in_memory",
             "--direct_num_workers=1"]
# Every fault occurs at least once in 8 users x 2 cycles with these rates (seed below).
FAULTS = FaultRates(missing_night=0.05, off_wrist=0.15, motion_corrupted=0.3, short_night=0.05,
                    duplicated_rows=0.1, out_of_order_rows=0.1, truncated_file=0.03,
                    corrupt_file=0.03, fahrenheit_user=0.3, sensor_glitch_row=0.002)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("feature_job")
    data, out = root / "data", root / "out"
    generate_dataset(data, users=8, cycles=2, seed=11, faults=FAULTS, progress=False)
    summary = run_feature_job(str(data), str(out), SALT, BEAM_ARGS)
    manifest = json.loads((data / "manifest.json").read_text())
    return data, out, summary, manifest


def test_every_injected_fault_occurs(job):
    _, _, _, manifest = job
    t = manifest["totals"]
    assert all(t["row_rejects"][r] > 0 for r in ("missing_value", "fahrenheit", "out_of_range",
                                                   "duplicate_timestamp", "out_of_order"))
    assert t["file_rejects"]["truncated_file"] > 0 and t["file_rejects"]["corrupt_file"] > 0
    assert t["invalid_nights"]["short_wear"] > 0 and t["nights_missing"] > 0


def test_quarantine_counts_equal_the_injected_faults(job):
    _, out, summary, manifest = job
    t = manifest["totals"]
    nonzero = lambda d: {k: v for k, v in d.items() if v}  # noqa: E731
    assert summary["rows_rejected_by_reason"] == nonzero(t["row_rejects"])
    assert summary["files_rejected_by_reason"] == nonzero(t["file_rejects"])
    assert summary["nights_invalid_by_reason"] == nonzero(t["invalid_nights"])
    assert summary["files"] == summary["nights"] == t["nights_written"]
    assert summary["rows_total"] == sum(n["rows_written"] for n in manifest["nights"]
                                        if n["path"] and not n["expected_file_reject"])
    rejected = read_jsonl(out / "quarantine", "rejected_rows")
    assert Counter(r["reason"] for r in rejected) == Counter(summary["rows_rejected_by_reason"])
    assert all(r["line"] and r["line_no"] >= 2 for r in rejected)
    files = read_jsonl(out / "quarantine", "rejected_files")
    assert Counter(f["reason"] for f in files) == Counter(summary["files_rejected_by_reason"])


def test_per_night_rejects_match_the_manifest(job):
    _, out, _, manifest = job
    ledger = {(n["user_key"], n["night_date"]): n for n in read_jsonl(out / "quarantine", "nights")}
    for night in manifest["nights"]:
        if not night["path"]:
            continue
        entry = ledger[(pseudonymise(night["user_id"], SALT), night["date"])]
        assert entry["rows_rejected"] == night["expected_row_rejects"], night["path"]
        assert entry["invalid_reason"] == night["expected_night_invalid"], night["path"]


def test_counts_add_up_and_no_night_is_lost(job):
    _, out, summary, _ = job
    ledger = read_jsonl(out / "quarantine", "nights")
    assert len(ledger) == summary["files"]
    assert sum(summary["night_status"].values()) == summary["files"]
    examples = {s: read_examples(str(out / "examples" / f"Split-{s}" / "*.gz"))
                for s in ("train", "eval", "test")}
    counts = {s: len(rows) for s, rows in examples.items()}
    assert counts == summary["examples_by_split"]
    assert sum(counts.values()) == summary["night_status"]["example"] == summary["valid_nights"]
    assert sum(summary["rows_rejected_by_reason"].values()) + summary["rows_accepted"] == \
        summary["rows_total"]


def test_splits_are_by_user_and_ids_are_pseudonymous(job):
    data, out, _, manifest = job
    users_by_split = {}
    for split in ("train", "eval", "test"):
        rows = read_examples(str(out / "examples" / f"Split-{split}" / "*.gz"))
        users_by_split[split] = {r[fc.USER_KEY][0].decode() for r in rows}
    splits = list(users_by_split.values())
    assert all(not (a & b) for i, a in enumerate(splits) for b in splits[i + 1:])
    raw_ids = {n["user_id"] for n in manifest["nights"]}
    assert set().union(*splits) <= {pseudonymise(u, SALT) for u in raw_ids}
    for path in out.rglob("*"):
        if path.is_file():
            text = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
            assert not any(u.encode() in text for u in raw_ids), path


def test_features_recover_the_latent_nightly_values(job):
    _, out, _, manifest = job
    latent = {(pseudonymise(n["user_id"], SALT), n["date"]): n["latent"]
              for n in manifest["nights"] if n["path"]}
    rows = read_examples(str(out / "examples" / "Split-*" / "*.gz"))
    assert rows
    for r in rows:
        truth = latent[(r[fc.USER_KEY][0].decode(), r[fc.NIGHT_DATE][0].decode())]
        assert r["skin_temp"][0] == pytest.approx(truth["skin_temp_c"], abs=0.02)
        assert r["heart_rate"][0] == pytest.approx(truth["heart_rate"], abs=0.2)
        assert r["hrv_rmssd"][0] == pytest.approx(truth["hrv_rmssd"], abs=0.5)
        assert len(r[fc.history_key("skin_temp")]) == fc.HISTORY_NIGHTS
        assert r[fc.LABEL_KEY][0] in (0, 1)


def test_the_examples_order_does_not_depend_on_the_salt(job, tmp_path):
    # The salt is a deployment's secret; the order of the examples decides the training order,
    # so a different salt must give the same examples in the same order, pseudonyms aside.
    data, out, _, _ = job
    other = tmp_path / "other_salt"
    run_feature_job(str(data), str(other), b"another-deployments-salt-987654", BEAM_ARGS)
    for split in ("train", "eval"):
        ours = read_examples(f"{out}/examples/Split-{split}/*.gz")
        theirs = read_examples(f"{other}/examples/Split-{split}/*.gz")
        strip = lambda rows: [{k: v for k, v in r.items() if k != fc.USER_KEY}  # noqa: E731
                              for r in rows]
        assert len(ours) > 10 and strip(ours) == strip(theirs)
        assert [r[fc.USER_KEY] for r in ours] != [r[fc.USER_KEY] for r in theirs]
