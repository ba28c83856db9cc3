"""The Pusher's records: what the Evaluator's baseline is found from, on any orchestrator."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.push_records import (
    PushRecord,
    PushRecordError,
    latest_push,
    read_push_record,
    records_dir,
    write_push_record,
)


def _serve(model_base: Path, version: str) -> None:
    """A TF Serving version folder holding a SavedModel's marker file."""
    (model_base / version).mkdir(parents=True)
    (model_base / version / "saved_model.pb").write_bytes(b"")


def test_no_record_before_the_first_push(tmp_path):
    assert latest_push(str(tmp_path / "missing")) is None
    _serve(tmp_path, "100")  # a version pushed by hand, with no record: no Trainer model known
    assert latest_push(str(tmp_path)) is None


def test_the_newest_servable_push_is_the_baseline(tmp_path):
    for version, uri in (("100", "/root/Trainer/model/1"), ("900", "/root/Trainer/model/3"),
                         ("250", "/root/Trainer/model/2")):
        _serve(tmp_path, version)
        write_push_record(str(tmp_path), PushRecord(version, uri, model_id=int(version)))
    assert latest_push(str(tmp_path)) == PushRecord("900", "/root/Trainer/model/3", 900)
    # versions compare as numbers, not strings ("1000" > "900")
    _serve(tmp_path, "1000")
    write_push_record(str(tmp_path), PushRecord("1000", "/root/Trainer/model/4"))
    assert latest_push(str(tmp_path)).model_uri == "/root/Trainer/model/4"


def test_a_version_rolled_back_is_no_longer_the_baseline(tmp_path):
    for version in ("100", "200"):
        _serve(tmp_path, version)
        write_push_record(str(tmp_path), PushRecord(version, f"/m/{version}"))
    (tmp_path / "200" / "saved_model.pb").unlink()  # removed from service
    assert latest_push(str(tmp_path)).version == "100"


def test_records_are_invisible_to_tf_serving_and_written_whole(tmp_path):
    from components.serving_layout import servable_versions

    _serve(tmp_path, "100")
    path = write_push_record(str(tmp_path), PushRecord("100", "/m/1"))
    assert Path(path).parent == Path(records_dir(str(tmp_path)))
    assert servable_versions(str(tmp_path)) == ["100"]  # "push_records" is not an integer
    assert not list(Path(path).parent.glob("*.incomplete"))
    assert read_push_record(path) == PushRecord("100", "/m/1", 0)


def test_a_bad_record_or_version_is_named(tmp_path):
    with pytest.raises(PushRecordError, match="integer"):
        write_push_record(str(tmp_path), PushRecord("v1", "/m/1"))
    _serve(tmp_path, "100")
    folder = Path(records_dir(str(tmp_path)))
    folder.mkdir()
    (folder / "100.json").write_text('{"version": "100"}')
    with pytest.raises(PushRecordError, match="100.json"):
        latest_push(str(tmp_path))
