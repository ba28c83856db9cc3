"""The answer service for real: `cyclecast serve` under uvicorn on a loopback port.

On the session's pipeline runs (16 generated users): every upload of the night the pipeline
scored gets the probability NightlyPredictions published for that user, from the model version
that published it, and exactly what `cyclecast predict --upload --json` prints; a corrupt upload
gets a 422 naming `corrupt_file`; and a version pushed while the service runs answers next.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from benchmarks.answer_load import answer_path, running_service
from components.nightly_features.user_history import pseudonymise
from transforms import raw_format as rf

pytestmark = pytest.mark.e2e

RELOAD_TIMEOUT_S = 120  # a poll every 0.2 s, then TensorFlow loads the new version


def _serving_workdir(cfg, version: str, root: Path) -> Path:
    """A work directory of the run's span store and one pushed version, in a serving dir of its own.

    The session's serving directory stays as it is (other tests read it); this one takes pushes.
    """
    workdir = root / "work"
    base = workdir / "serving_model" / cfg.model_name
    base.mkdir(parents=True)
    shutil.copytree(Path(cfg.serving_dir) / cfg.model_name / version, base / version)
    (workdir / "pipeline_root").symlink_to(cfg.pipeline_root)
    return workdir


def _push(base: Path, version: str, new_version: str) -> None:
    """Copy a version under a new number the way a push lands: whole, then renamed into place."""
    staging = base / f".incoming-{new_version}"
    shutil.copytree(base / version, staging)
    staging.rename(base / new_version)


def test_the_service_answers_as_predict_and_the_published_prediction(pipeline_runs, tmp_path,
                                                                      capsys):
    from components.nightly_features.salt import load_salt
    from pipeline.cli import main

    cfg, _, _, _ = pipeline_runs
    data, salt = Path(cfg.data_root), load_salt(cfg.salt_file)
    nights = sorted(p.name for p in (data / rf.NIGHTS_DIR).iterdir())
    night = nights[-1]  # the night the last runs scored and published
    published = Path(cfg.predictions_root) / night
    summary = json.loads((published / "summary.json").read_text())
    version = summary["model_version"]
    rows = [json.loads(line) for line in gzip.open(published / "predictions.jsonl.gz")]
    users = sorted({p.name[: -len(rf.RAW_SUFFIX)] for p in data.glob("nights/*/*.csv.gz")})
    by_key = {pseudonymise(u, salt): u for u in users}
    expected = {by_key[r["user_key"]]: r for r in rows}
    assert expected

    workdir = _serving_workdir(cfg, version, tmp_path)
    serve = ["--workdir", str(workdir), "--data-root", str(data), "--salt-file", cfg.salt_file,
             "--poll-seconds", "0.2"]
    with running_service(serve, tmp_path / "serve.log") as url, \
            httpx.Client(base_url=url, timeout=60) as client:

        def post(user: str, on: str, body: bytes | None = None) -> httpx.Response:
            upload = (data / rf.night_path(on, user)).read_bytes() if body is None else body
            return client.post(answer_path(user, on), content=upload)

        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").json() == {"status": "ready", "model_version": version}
        answers = {}
        for user, row in sorted(expected.items()):
            response = post(user, night)
            assert response.status_code == 200, response.text
            answers[user] = response.json()
            assert answers[user]["probability"] == pytest.approx(row["probability"], abs=1e-6)
            assert answers[user]["fertile"] == row["fertile"]
            assert (answers[user]["model_version"], answers[user]["night"]) == (version, night)

        corrupt = post(users[0], night, b"\x1f\x8b not really gzip")
        assert corrupt.status_code == 422 and corrupt.json()["reason"] == "corrupt_file"
        assert "not a valid night: corrupt_file" in corrupt.json()["detail"]

        # a push while it runs: the next answers come from the new version, whole
        user = sorted(expected)[0]
        newer = str(int(version) + 1)
        _push(workdir / "serving_model" / cfg.model_name, version, newer)
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        while client.get("/readyz").json().get("model_version") != newer:
            assert time.monotonic() < deadline, "the pushed version was never taken up"
            time.sleep(0.2)
        reloaded = post(user, night).json()
        assert reloaded == {**answers[user], "model_version": newer}  # same weights, new name

    # the command line prints exactly the service's answer (same model files, same dict)
    user, on, answered = sorted(expected)[0], night, answers[sorted(expected)[0]]
    assert main(["predict", "--local", str(workdir / "serving_model" / cfg.model_name / version),
                 "--upload", str(data / rf.night_path(on, user)), "--user", user,
                 "--workdir", str(workdir), "--data-root", str(data),
                 "--salt-file", cfg.salt_file, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == answered
