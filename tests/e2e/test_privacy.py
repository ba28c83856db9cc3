"""No raw user id reaches the pipeline root, the metadata store or the quarantine."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def _readable(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # gzip: scan what is inside too
        try:
            return data + gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return data
    return data


def test_no_raw_user_id_in_any_artifact_or_the_metadata_store(pipeline_runs):
    cfg, *_ = pipeline_runs
    raw_ids = {p.stem.split(".")[0] for p in Path(cfg.data_root).glob("nights/*/*.csv.gz")}
    assert len(raw_ids) == 16
    scanned = 0
    for path in [*Path(cfg.pipeline_root).rglob("*"), Path(cfg.metadata_path),
                 *Path(cfg.serving_dir).rglob("*")]:
        if path.is_file():
            content = _readable(path)
            scanned += 1
            leaked = sorted(u for u in raw_ids if u.encode() in content)
            assert not leaked, f"{path} holds raw user id(s) {leaked}"
    assert scanned > 50
