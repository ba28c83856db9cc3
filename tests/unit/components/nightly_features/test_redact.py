"""No raw user id or local path in what the job keeps of a file it could not use (issue 23, item 4).

The feature job's per-file step (``_ProcessNightFn``) is called directly on hand-made files: a
re-sent copy named ``<user_id> (1).csv.gz`` and a file that is listed but can't be read.
"""

from __future__ import annotations

import json

import pytest
from apache_beam.io.filesystem import FileMetadata
from apache_beam.pvalue import TaggedOutput

from components.nightly_features import beam_job
from components.nightly_features.beam_job import FeatureJobConfig, _ProcessNightFn
from components.nightly_features.records import name_user_id, parse_night_path, read_raw_file
from components.nightly_features.redact import file_reference, scrub
from components.nightly_features.user_history import NotScored, build_user_examples, pseudonymise
from components.quarantine_layout import NIGHT_LEDGER, REJECTED_FILES
from tests.rawfiles import T0, steady_night, to_file
from transforms import raw_format as rf

SALT = b"redact-test-salt-0123456789abcdef"
NIGHT = "2026-01-05"


@pytest.mark.parametrize(
    "name, user",
    [
        ("u00004.csv.gz", "u00004"),
        ("u00004 (1).csv.gz", "u00004"),
        ("u00004(12).csv.gz", "u00004"),
        ("my night.csv.gz", None),
        ("u00004 copy.csv.gz", None),
    ],
)
def test_the_user_id_a_file_name_stands_for(name, user):
    assert name_user_id(f"nights/{NIGHT}/{name}") == user


@pytest.mark.parametrize(
    "rel", [f"nights/{NIGHT}/u00004 (1).csv.gz", "nights/2026-02-30/u00004.csv.gz", "u00004.csv.gz"]
)
def test_a_bad_path_message_never_quotes_the_path(rel):
    with pytest.raises(rf.UnreadableFile) as e:
        parse_night_path(rel)
    assert e.value.reason == rf.FileReject.BAD_PATH and "u00004" not in str(e.value)


def test_scrub_replaces_every_raw_form_in_one_pass():
    replacements = {"/home/ana/data/nights/x/u1.csv.gz": "REF", "u1.csv.gz": "NAME", "u1": "USER"}
    text = "open /home/ana/data/nights/x/u1.csv.gz failed; u1.csv.gz of u1"
    assert scrub(text, replacements) == "open REF failed; NAME of USER"
    assert scrub(None, replacements) is None
    assert scrub("u10 and u1's file", replacements) == "u10 and USER's file"
    ref = file_reference(f"nights/{NIGHT}/u00004 (1).csv.gz", SALT)
    assert ref == f"nights/{NIGHT}/file-{pseudonymise('u00004 (1).csv.gz', SALT)}"
    assert file_reference("nights/u00004/x.csv.gz", SALT).startswith("folder-")


def _process(tmp_path, rel: str) -> tuple[list[dict], list[dict], list]:
    """Run the job's per-file step on ``tmp_path/rel``: (rejected files, ledger, main output)."""
    fn = _ProcessNightFn(FeatureJobConfig(input_root=str(tmp_path), salt=SALT))
    files, ledger, main = [], [], []
    for out in fn.process(FileMetadata(str(tmp_path / rel), 0)):
        if isinstance(out, TaggedOutput):
            {REJECTED_FILES: files, NIGHT_LEDGER: ledger}.get(out.tag, []).append(out.value)
        else:
            main.append(out)
    return files, ledger, main


def _assert_private(records: list, tmp_path) -> None:
    text = json.dumps(records, default=str)
    assert "u00004" not in text and str(tmp_path) not in text, text


def test_a_re_sent_copy_is_kept_under_a_pseudonym_not_its_name(tmp_path):
    rel = f"nights/{NIGHT}/u00004 (1).csv.gz"
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_bytes(to_file(steady_night(5)))
    files, ledger, main = _process(tmp_path, rel)
    (kept,) = files
    assert kept["reason"] == rf.FileReject.BAD_PATH and "re-sent copy" in kept["error"]
    assert kept["user_key"] == pseudonymise("u00004", SALT)  # whose copy it is
    assert kept["path"] == file_reference(rel, SALT)  # which file, for whoever holds the salt
    assert kept["bytes"] == 0  # a bad path is never read
    assert [e["invalid_reason"] for e in ledger] == [rf.FileReject.BAD_PATH] and not main
    _assert_private(files + ledger, tmp_path)


def test_a_file_that_cannot_be_read_is_counted_in_its_night_without_its_path(tmp_path, monkeypatch):
    rel = f"nights/{NIGHT}/u00004.csv.gz"
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_bytes(to_file(steady_night(5)))
    path = str(tmp_path / rel)

    def denied(p, *args, **kwargs):
        raise PermissionError(13, "Permission denied", p)

    monkeypatch.setattr(beam_job.FileSystems, "open", denied)
    files, ledger, main = _process(tmp_path, rel)
    (kept,) = files
    key = pseudonymise("u00004", SALT)
    assert kept["reason"] == rf.FileReject.UNREADABLE and kept["night_date"] == NIGHT
    assert kept["user_key"] == key and kept["error"] == "could not read the file: Permission denied"
    assert path not in json.dumps(kept)
    # the night goes on to the user's ledger, in its night, like any invalid night
    ((user_key, outcome),) = main
    assert user_key == key and outcome.invalid_reason == rf.FileReject.UNREADABLE
    assert outcome.night_date == NIGHT and not ledger
    result = build_user_examples("u00004", [outcome], [], key)
    ((entry,),) = [result.ledger]
    assert (entry["night_date"], entry["invalid_reason"]) == (NIGHT, rf.FileReject.UNREADABLE)
    assert result.not_scored == {NIGHT: NotScored.INVALID}
    _assert_private(files, tmp_path)


def test_a_file_gone_since_its_listing_is_unreadable_and_an_error_naming_it_is_scrubbed(
    tmp_path, monkeypatch
):
    rel = f"nights/{NIGHT}/u00004.csv.gz"
    files, _, _ = _process(tmp_path, rel)  # listed, never written
    assert [f["reason"] for f in files] == [rf.FileReject.UNREADABLE]
    _assert_private(files, tmp_path)

    # an error text that quotes the path (a file system that words it so) is scrubbed too
    def quoting(p, *args, **kwargs):
        raise OSError(f"cannot open {p} (u00004)")

    monkeypatch.setattr(beam_job.FileSystems, "open", quoting)
    monkeypatch.setattr(
        beam_job,
        "read_raw_file",
        lambda rel_path, read, rules, ranges=None: _with_raw_error(rel_path, read, rules),
    )
    files, _, _ = _process(tmp_path, rel)
    (kept,) = files
    assert kept["error"].startswith("cannot open nights/2026-01-05/file-")
    _assert_private(files, tmp_path)


def _with_raw_error(rel_path, read, rules):
    """``read_raw_file`` keeping the exception's whole text, as a file system's message."""
    outcome, size = read_raw_file(rel_path, read, rules)
    try:
        read()
    except OSError as e:
        outcome.file_error = str(e)
    return outcome, size


def test_read_raw_file_reads_a_good_path_once_and_a_bad_one_never():
    calls = []

    def read():
        calls.append(1)
        return to_file(steady_night(5, start=T0))

    outcome, size = read_raw_file(f"nights/{NIGHT}/u1.csv.gz", read, rf.NightRules())
    assert outcome.valid and size > 0 and calls == [1]
    outcome, size = read_raw_file(f"nights/{NIGHT}/u1 (1).csv.gz", read, rf.NightRules())
    assert outcome.file_reject == rf.FileReject.BAD_PATH and size == 0 and calls == [1]
