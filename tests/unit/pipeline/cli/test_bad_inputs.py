"""Bad command-line inputs get a clear error (status 2) and touch nothing: issue 23, item 6."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from types import SimpleNamespace

import pytest

from pipeline.cli import main
from tests.rawfiles import write_steady_root

SALT_ENV = ("CYCLECAST_ID_SALT", "a-test-salt-0123456789")


@pytest.mark.parametrize(
    "argv",
    [
        ["runs", "show", ""],
        ["runs", "show", " "],
        ["runs", "compare", "latest", ""],
        ["report", ""],
    ],
)
def test_an_empty_run_id_is_refused(tmp_path, capsys, argv):
    rc = main([*argv, "--workdir", str(tmp_path / "state")])
    assert rc == 2
    assert "an empty id names nothing" in capsys.readouterr().err


def test_an_empty_run_id_matches_no_run(monkeypatch):
    from pipeline.metadata import store

    # one recorded run: as a prefix, "" matched it, so `runs show ""` showed the latest run
    monkeypatch.setattr(store, "run_contexts", lambda _store, _name: [SimpleNamespace(name="r1")])
    assert store.find_run(None, "cyclecast", "latest").name == "r1"
    with pytest.raises(LookupError, match="empty run id"):
        store.find_run(None, "cyclecast", "")


def _publish(folder, night: str) -> None:
    folder.mkdir(parents=True)
    summary = {"night": night, "scored": 1, "model_version": 1, "not_scored_by_reason": {}}
    (folder / "summary.json").write_text(json.dumps(summary))
    with gzip.open(folder / "predictions.jsonl.gz", "wt") as f:
        f.write(json.dumps({"user_key": "k", "probability": 0.5, "fertile": False}) + "\n")


@pytest.mark.parametrize("night", ["../elsewhere", "20260416", "2026-W16-4", "2026-02-30"])
def test_predictions_take_a_date_and_nothing_else(tmp_path, capsys, night):
    from pipeline.config import LocalConfig

    workdir = tmp_path / "state"
    root = LocalConfig(workdir=workdir).pipeline_config().predictions_root
    _publish(workdir / "elsewhere", "2026-04-16")  # what ../elsewhere would have read
    _publish(tmp_path / "state" / "predictions" / "2026-04-16", "2026-04-16")
    assert str(root) == str(workdir / "predictions")
    rc = main(["predictions", "--night", night, "--workdir", str(workdir)])
    out = capsys.readouterr()
    assert rc == 2 and out.out == ""
    assert f"night {night!r} is not a date in the form YYYY-MM-DD" in out.err
    assert main(["predictions", "--night", "2026-04-16", "--workdir", str(workdir)]) == 0


def _stub_report(monkeypatch) -> None:
    from pipeline.runs import report

    monkeypatch.setattr(report, "collect_report", lambda *_: SimpleNamespace(run={"run_id": "r1"}))
    monkeypatch.setattr(report, "render_report", lambda _data: "<html></html>")


def test_report_into_a_directory_is_a_clear_error(tmp_path, capsys, monkeypatch):
    _stub_report(monkeypatch)
    rc = main(["report", "--out", str(tmp_path), "--workdir", str(tmp_path / "state")])
    assert rc == 2
    assert f"--out {tmp_path} is a directory; give the HTML file" in capsys.readouterr().err


def test_report_that_cannot_be_written_is_a_clear_error(tmp_path, capsys, monkeypatch):
    _stub_report(monkeypatch)
    (tmp_path / "a-file").write_text("x")
    out = tmp_path / "a-file" / "report.html"  # its folder would have to be a file
    rc = main(["report", "--out", str(out), "--workdir", str(tmp_path / "state")])
    assert rc == 2
    assert "cannot write the report to" in capsys.readouterr().err
    assert (
        main(["report", "--out", str(tmp_path / "r.html"), "--workdir", str(tmp_path / "state")])
        == 0
    )
    assert (tmp_path / "r.html").read_text() == "<html></html>"


def test_features_into_an_existing_file_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(*SALT_ENV)
    write_steady_root(tmp_path / "data", nights=1)
    target = tmp_path / "out.txt"
    target.write_text("keep me")
    rc = main(
        [
            "features",
            "--input",
            str(tmp_path / "data"),
            "--out",
            str(target),
            "--workdir",
            str(tmp_path / "state"),
        ]
    )
    assert rc == 2
    assert f"output {target} is a file; give a directory" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_features_refuse_a_folder_holding_other_things(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(*SALT_ENV)
    write_steady_root(tmp_path / "data", nights=1)
    out = tmp_path / "out"
    (out / "examples").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    rc = main(
        [
            "features",
            "--input",
            str(tmp_path / "data"),
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "state"),
        ]
    )
    assert rc == 2
    assert "holds notes.txt, which the feature job does not write" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine" and (out / "examples").is_dir()


def test_backfill_of_future_nights_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(*SALT_ENV)
    write_steady_root(tmp_path / "data", nights=1)
    tomorrow_everywhere = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    rc = main(
        [
            "backfill",
            "--from",
            "2026-01-05",
            "--to",
            tomorrow_everywhere.isoformat(),
            "--data-root",
            str(tmp_path / "data"),
            "--workdir",
            str(tmp_path / "state"),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert f"--to {tomorrow_everywhere} is in the future" in err
    assert not (tmp_path / "state").exists()  # no span store, no index entry


def test_the_latest_possible_night_is_today_where_the_day_began_first():
    from pipeline.data import check_backfill_range, latest_possible_night

    now = dt.datetime(2026, 4, 16, 9, 0, tzinfo=dt.UTC)  # 23:00 on the 16th in UTC+14
    assert latest_possible_night(now) == dt.date(2026, 4, 16)
    late = dt.datetime(2026, 4, 16, 11, 0, tzinfo=dt.UTC)  # 01:00 on the 17th in UTC+14
    assert latest_possible_night(late) == dt.date(2026, 4, 17)
    check_backfill_range("2026-04-01", "2026-04-16", now)  # up to today: fine
    with pytest.raises(ValueError, match="--to 2026-04-17 is in the future"):
        check_backfill_range("2026-04-01", "2026-04-17", now)
    with pytest.raises(ValueError, match="not a date in the form YYYY-MM-DD"):
        check_backfill_range("2026-04-01", "../x", now)


def _night(valid_history: int) -> dict:
    from components.trainer.warmup import typical_nights
    from transforms import features as fc
    from transforms.serving_request import load_schema, schema_ranges

    night = typical_nights(schema_ranges(load_schema()))[0]
    night[fc.HISTORY_MASK] = [0] * (fc.HISTORY_NIGHTS - valid_history) + [1] * valid_history
    return night


def test_predict_refuses_a_night_the_batch_path_would_not_score(tmp_path, capsys):
    path = tmp_path / "night.json"
    path.write_text(json.dumps(_night(0)))
    rc = main(["predict", "--local", str(tmp_path / "no-model"), "--night", str(path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "the night can't be scored: too_little_history (0 valid night(s)" in err


def test_the_online_refusal_is_the_batch_rule():
    from components.nightly_features.user_history import (
        MIN_HISTORY_FOR_PREDICTION,
        NotScored,
        too_little_history,
    )
    from pipeline.serving.predict import check_scorable
    from transforms import features as fc
    from transforms.serving_request import BadRequest

    enough = _night(MIN_HISTORY_FOR_PREDICTION)
    check_scorable([enough])
    assert not too_little_history(enough[fc.HISTORY_MASK])
    short = _night(MIN_HISTORY_FOR_PREDICTION - 1)
    assert too_little_history(short[fc.HISTORY_MASK])
    with pytest.raises(BadRequest, match=f"night 2 of 2 can't be scored: {NotScored.HISTORY}"):
        check_scorable([enough, short])
