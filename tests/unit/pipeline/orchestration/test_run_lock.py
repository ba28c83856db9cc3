"""The run lock: one run at a time on a metadata store."""

from __future__ import annotations

import pytest


def test_run_refuses_a_second_run_on_the_same_store(tmp_path):
    from pipeline.orchestration.run_lock import RunRefused, exclusive_run

    db = str(tmp_path / "metadata.db")
    with exclusive_run(db, "night 2026-01-10"):
        with pytest.raises(RunRefused, match="night 2026-01-10"):
            with exclusive_run(db, "night 2026-01-10"):
                pass
    with exclusive_run(db, "again"):  # released on exit
        pass
