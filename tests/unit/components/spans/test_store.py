"""The span store's layout, the night folder, the file helpers and the published predictions."""

from __future__ import annotations

import gzip
import json

import pytest

from components.file_io import read_bytes, read_gzip_lines, read_jsonl, write_atomically
from components.published_predictions import (
    PREDICTIONS_FILE,
    SUMMARY_FILE,
    published_predictions,
)
from components.spans.store import REQUESTS_SPLIT, SpanEntry, night_shards, split_dir
from transforms import raw_format as rf


def test_split_dir_is_tfx_artifact_utils_naming():
    from tfx.types import artifact_utils, standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = "/somewhere/NightlyFeatureGen/requests/7"
    examples.split_names = artifact_utils.encode_split_names(["train", REQUESTS_SPLIT])
    for split in ("train", REQUESTS_SPLIT):
        assert split_dir(examples.uri, split) == artifact_utils.get_split_uri([examples], split)


def test_an_entry_names_its_nights_shards():
    entry = SpanEntry("2026-03-01", "/ex", "/q", "fp", 3, "code", requests="/req")
    assert entry.example_files("eval") == "/ex/Split-eval/2026-03-01-*"
    assert entry.request_files == "/req/Split-serving/2026-03-01-*"
    assert night_shards("/x/Split-a", "2026-03-01") == entry.example_files("a").replace("/ex", "/x")


def test_the_night_folder_has_one_home():
    assert rf.night_dir("2026-03-01") == "nights/2026-03-01"
    assert rf.night_files("2026-03-01") == "nights/2026-03-01/*.csv.gz"
    assert rf.night_path("2026-03-01", "u1") == "nights/2026-03-01/u1.csv.gz"
    assert rf.DATED_NIGHTS_PATTERN == "nights/{YYYY}-{MM}-{DD}/*.csv.gz"


def test_file_helpers_read_what_they_write(tmp_path):
    path = str(tmp_path / "a.json")
    assert read_bytes(path) is None
    write_atomically(path, b"{}")
    assert read_bytes(path) == b"{}" and not (tmp_path / "a.json.incomplete").exists()
    for name, rows in (("x-2.jsonl.gz", [{"b": 2}]), ("x-1.jsonl.gz", [{"a": 1}, {"a": 3}])):
        (tmp_path / name).write_bytes(gzip.compress(
            "".join(json.dumps(r) + "\n" for r in rows).encode()))
    assert read_gzip_lines(str(tmp_path / "x-2.jsonl.gz")) == ['{"b": 2}']
    assert read_jsonl(str(tmp_path / "x-*.jsonl.gz")) == [{"a": 1}, {"a": 3}, {"b": 2}]
    assert read_jsonl(str(tmp_path / "none-*.jsonl.gz")) == []


def test_published_predictions_read_back(tmp_path):
    with pytest.raises(FileNotFoundError, match="no predictions published for 2026-03-01"):
        published_predictions(str(tmp_path), "2026-03-01")
    folder = tmp_path / "2026-03-01"
    folder.mkdir()
    row = {"user_key": "k", "night": "2026-03-01", "probability": 0.5}
    (folder / PREDICTIONS_FILE).write_bytes(gzip.compress((json.dumps(row) + "\n").encode()))
    (folder / SUMMARY_FILE).write_text(json.dumps({"night": "2026-03-01", "scored": 1}))
    assert published_predictions(str(tmp_path), "2026-03-01") == (
        {"night": "2026-03-01", "scored": 1}, [row])
