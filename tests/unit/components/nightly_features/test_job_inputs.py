"""What the feature job does with odd inputs before and around its pipeline (issue 23, item 6).

An earlier output in ``--out``, a non-UTF-8 byte in the cycle log, a directory or a broken
symbolic link named like an upload: each is handled by a function tested here without running
a pipeline (``tests/e2e/test_fault_injection.py`` runs them through the job).
"""

from __future__ import annotations

import os

import pytest

from components.nightly_features.job import InputError, check_input_root
from components.nightly_features.records import BadCycleRow, parse_cycle_line
from tests.rawfiles import to_file, write_steady_root
from transforms import raw_format as rf

SALT = b"job-inputs-salt-0123456789"


def prepare_output_root(out: str) -> list[str]:
    """The function under test (imported here: it is new in issue 23)."""
    from components.nightly_features.job import prepare_output_root as prepare

    return prepare(out)


def _earlier_output(out) -> list:
    shard = out / "examples" / "Split-train" / "2026-01-05-data_tfrecord-00000-of-00001.gz"
    ledger = out / "quarantine" / "nights-2026-01-05.jsonl.gz"
    for path in (shard, ledger, out / "quarantine" / "summary.json"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"from an earlier run")
    return [shard, ledger]


def test_an_earlier_output_is_cleared_so_only_the_new_runs_files_remain(tmp_path):
    out = tmp_path / "out"
    stale = _earlier_output(out)
    cleared = prepare_output_root(str(out))
    assert sorted(cleared) == [str(out / "examples"), str(out / "quarantine")]
    assert not any(p.exists() for p in stale) and list(out.iterdir()) == []
    assert prepare_output_root(str(out)) == []  # empty: ready
    assert prepare_output_root(str(tmp_path / "new")) == []  # missing: ready, nothing made


def test_an_interrupted_earlier_output_is_cleared_too(tmp_path):
    out = tmp_path / "out"
    (out / "examples" / "Split-eval").mkdir(parents=True)  # killed before any quarantine file
    prepare_output_root(str(out))
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("foreign", ["notes.txt", "examples.bak", "quarantine-file"])
def test_a_folder_holding_anything_else_is_refused_and_kept(tmp_path, foreign):
    out = tmp_path / "out"
    stale = _earlier_output(out)
    (out / foreign).write_text("mine")
    with pytest.raises(InputError, match=f"holds {foreign}, which the feature job does not"):
        prepare_output_root(str(out))
    assert (out / foreign).read_text() == "mine" and all(p.exists() for p in stale)


def test_a_symlinked_output_folder_is_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("x")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(elsewhere, out / "examples")
    with pytest.raises(InputError, match="holds examples"):
        prepare_output_root(str(out))
    assert (elsewhere / "precious").exists()


def test_an_output_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("keep")
    with pytest.raises(InputError, match="is a file; give a directory"):
        prepare_output_root(str(target))
    assert target.read_text() == "keep"


def test_an_object_store_output_is_cleared_or_refused_the_same_way(monkeypatch):
    from apache_beam.io.filesystem import FileMetadata, MatchResult
    from apache_beam.io.filesystems import FileSystems

    objects = {
        "gs://b/out/examples/Split-train/2026-01-05-data_tfrecord-00000-of-00001.gz",
        "gs://b/out/quarantine/summary.json",
    }

    def match(patterns):
        assert patterns == ["gs://b/out/**"]
        return [MatchResult(patterns[0], [FileMetadata(p, 1) for p in sorted(objects)])]

    monkeypatch.setattr(FileSystems, "match", staticmethod(match))
    monkeypatch.setattr(FileSystems, "delete", staticmethod(objects.difference_update))
    objects.add("gs://b/out/notes.txt")
    with pytest.raises(InputError, match="holds notes.txt, which the feature job does not"):
        prepare_output_root("gs://b/out/")
    assert len(objects) == 3  # nothing deleted
    objects.discard("gs://b/out/notes.txt")
    assert len(prepare_output_root("gs://b/out")) == 2 and objects == set()


# ---- the cycle log: read as bytes, a non-UTF-8 line is one bad line ----------------------------

CYCLES_HEADER = ",".join(rf.CYCLES_COLUMNS)


def test_a_non_utf8_cycle_line_is_a_bad_row_naming_the_byte():
    assert parse_cycle_line(b"u1,0,2026-01-05,28,14,5").length_days == 28
    with pytest.raises(BadCycleRow, match="not UTF-8 text: byte 0xff at column 19"):
        parse_cycle_line(b"u1,0,2026-01-05,28\xff,14,5")


def test_the_batch_job_quarantines_a_non_utf8_cycle_line():
    from apache_beam.pvalue import TaggedOutput

    from components.nightly_features.beam_job import _ParseCycleFn
    from components.nightly_features.user_history import pseudonymise
    from components.quarantine_layout import REJECTED_CYCLES

    fn = _ParseCycleFn(SALT)
    good, line = fn.process(b"u1,0,2026-01-05,28,14,5")
    assert good[0] == pseudonymise("u1", SALT) and good[1].length_days == 28
    assert line.tag == "cycle_lines"  # the line for the online store, keyed, without the raw id
    assert line.value == (good[0], good[0].encode() + b",0,2026-01-05,28,14,5")
    (bad,) = fn.process(b"u1,1,2026-02-02,2\xe98,14,5")
    assert isinstance(bad, TaggedOutput) and bad.tag == REJECTED_CYCLES
    assert bad.value == {
        "user_key": pseudonymise("u1", SALT),
        "reason": "not UTF-8 text: byte 0xe9 at column 18",
        "line_without_user_id": "1,2026-02-02,2\\xe98,14,5",
    }


def test_the_online_store_skips_the_same_line(tmp_path):
    from components.nightly_features.user_history import pseudonymise
    from components.online_store import open_store
    from components.online_store.seed import seed_cycles
    from pipeline.serving.online import cycle_rows

    cycles = tmp_path / "cycles.csv"
    cycles.write_bytes(
        f"{CYCLES_HEADER}\n".encode()
        + b"u1,0,2026-01-05,28,14,5\n"
        + b"u1,1,2026-02-02,2\xe98,14,5\n"
        + b"u1,2,2026-03-02,,,\n"
    )
    online = open_store(f"sqlite:///{tmp_path}/online.sqlite", create=True)
    assert seed_cycles(online, cycles, SALT) == 1
    stored = online.user_state(pseudonymise("u1", SALT), []).cycles
    assert [c.cycle_index for c in cycle_rows(stored)] == [0, 2]
    assert not any(b"u1" in line for line in stored)  # the store keeps no raw user id


def test_the_input_check_reads_the_cycle_log_as_bytes(tmp_path):
    root = tmp_path / "data"
    write_steady_root(root, nights=1)
    cycles = root / rf.CYCLES_FILE
    cycles.write_bytes(cycles.read_bytes() + b"u9,0,2026-01-05,28,14,\xff5\n")
    check_input_root(str(root))  # a bad line is the job's to quarantine, not a failed check
    cycles.write_bytes(CYCLES_HEADER.encode().replace(b"user_id", b"user\xffid") + b"\n")
    with pytest.raises(InputError, match=r"cycles.csv line 1 \(the header\) is 'user\\\\xffid"):
        check_input_root(str(root))


# ---- entries named like an upload that are no file ---------------------------------------------


def _night_folder(tmp_path):
    root = tmp_path / "data"
    folder = root / rf.night_dir("2026-01-05")
    folder.mkdir(parents=True)
    (folder / "u1.csv.gz").write_bytes(to_file([]))
    (folder / "u2.csv.gz").mkdir()  # a directory named like an upload
    (folder / "u2.csv.gz" / "inside.csv.gz").write_bytes(b"x")
    os.symlink(tmp_path / "gone.csv.gz", folder / "u3.csv.gz")  # a broken symbolic link
    os.symlink(folder / "u1.csv.gz", folder / "u4.csv.gz")  # a working one: a file
    return root, folder


def test_every_entry_named_like_an_upload_is_matched(tmp_path):
    from components.nightly_features.beam_job import match_raw_entries, not_a_file

    root, folder = _night_folder(tmp_path)
    found = sorted(m.path for m in match_raw_entries(f"{root}/{rf.night_files('2026-01-05')}"))
    assert found == [str(folder / f"u{i}.csv.gz") for i in (1, 2, 3, 4)]
    assert [not_a_file(p) for p in found] == [
        None,
        "a directory",
        "a symbolic link whose target does not exist",
        None,
    ]


def test_an_entry_that_is_no_file_is_an_invalid_night_of_its_user(tmp_path):
    from apache_beam.io.filesystem import FileMetadata
    from apache_beam.pvalue import TaggedOutput

    from components.nightly_features.beam_job import FeatureJobConfig, _ProcessNightFn
    from components.nightly_features.user_history import pseudonymise
    from components.quarantine_layout import REJECTED_FILES

    root, folder = _night_folder(tmp_path)
    fn = _ProcessNightFn(FeatureJobConfig(input_root=str(root), salt=SALT))
    for user, what in (("u2", "a directory"), ("u3", "a symbolic link whose target does not")):
        out = list(fn.process(FileMetadata(str(folder / f"{user}.csv.gz"), 0)))
        (rejected,) = [o.value for o in out if isinstance(o, TaggedOutput)]
        assert [o.tag for o in out if isinstance(o, TaggedOutput)] == [REJECTED_FILES]
        assert rejected["reason"] == rf.FileReject.NOT_A_FILE and what in rejected["error"]
        assert rejected["user_key"] == pseudonymise(user, SALT)
        assert rejected["path"].startswith("nights/2026-01-05/") and user not in rejected["path"]
        assert str(tmp_path) not in json_text(rejected)  # no local path in what is written
        ((key, outcome),) = [o for o in out if not isinstance(o, TaggedOutput)]
        assert key == pseudonymise(user, SALT) and outcome.night_date == "2026-01-05"
        assert outcome.invalid_reason == rf.FileReject.NOT_A_FILE and not outcome.valid


def json_text(record: dict) -> str:
    """A quarantine record as written."""
    import json

    return json.dumps(record)
