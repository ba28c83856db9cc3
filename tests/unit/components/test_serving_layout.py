"""The model in service: TF Serving's rule, one for NightlyPredictions and ``cyclecast predict``."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.serving_layout import latest_served_version, resolve_model_dir, servable_versions


def _saved_model(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "saved_model.pb").write_bytes(b"")
    return directory


def test_a_number_folder_without_a_saved_model_is_not_a_servable_version(tmp_path):
    """Where the two lookups disagreed: NightlyPredictions took any digit folder, predict didn't.

    A push still being copied (or a failed one) leaves ``<base>/<higher number>/`` without
    ``saved_model.pb``; TF Serving keeps serving the previous version, and so do both now.
    """
    from components.nightly_predictions import latest_version

    base = tmp_path / "cyclecast"
    _saved_model(base / "1700000000")
    (base / "1800000000" / "variables").mkdir(parents=True)  # half-copied: no saved_model.pb
    (base / "notes").mkdir()
    assert servable_versions(str(base)) == ["1700000000"]
    assert latest_served_version(str(base)) == "1700000000"
    assert latest_version(str(base)) == "1700000000"
    assert resolve_model_dir(str(base)) == str(base / "1700000000")


def test_versions_are_compared_as_integers(tmp_path):
    base = tmp_path / "cyclecast"
    for version in ("9", "10"):
        _saved_model(base / version)
    assert servable_versions(str(base)) == ["9", "10"]
    assert latest_served_version(str(base)) == "10"


def test_a_saved_model_directory_is_its_own_model(tmp_path):
    model = _saved_model(tmp_path / "exported")
    assert resolve_model_dir(str(model)) == str(model)


def test_nothing_servable(tmp_path):
    assert latest_served_version(str(tmp_path / "missing")) is None
    (tmp_path / "cyclecast" / "3").mkdir(parents=True)
    assert latest_served_version(str(tmp_path / "cyclecast")) is None
    with pytest.raises(FileNotFoundError, match="nor an integer version under it"):
        resolve_model_dir(str(tmp_path / "cyclecast"))
