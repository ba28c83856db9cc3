"""Shared fixtures: one small pipeline history, run once per test session and read by many tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import EvaluationConfig, LocalConfig, TrainingConfig
from synthetic.generate import generate_dataset


def pipeline_config(workdir: Path, data_root: Path, **changes):
    """A local pipeline config sized for tests (300 training steps, lenient blessing floors)."""
    workdir.mkdir(parents=True, exist_ok=True)
    salt = workdir / "id_salt"
    salt.write_text("pipeline-e2e-salt-0123456789")
    cfg = LocalConfig(workdir=workdir).pipeline_config(data_root)
    cfg = cfg.with_changes(
        training=TrainingConfig(train_steps=300, eval_steps=5),
        evaluation=EvaluationConfig(min_auc=0.6, min_sensitivity=0.2, min_specificity=0.5),
    )
    return cfg.with_changes(**changes)


@pytest.fixture(scope="session")
def pipeline_runs(tmp_path_factory):
    """Three runs on 16 users x 3 cycles: first, same again (cached), and a worse candidate.

    Each is the ``RunSummary`` of the run, read back as ``cyclecast run`` prints it.
    """
    from pipeline.orchestration.local_runner import run_local
    from pipeline.runs.summary import summarize_run

    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    generate_dataset(data, users=16, cycles=3, seed=5, progress=False)
    cfg = pipeline_config(root / "work", data)
    def run(c):
        return summarize_run(c.metadata_path, c.pipeline_name, run_local(c))

    first = run(cfg)
    second = run(cfg)
    # a candidate that learned nothing, judged only by the change threshold against the
    # blessed model of the first run
    worse_cfg = cfg.with_changes(
        training=TrainingConfig(train_steps=1, eval_steps=1, hparams=(("learning_rate", 1e-9),)),
        evaluation=EvaluationConfig(min_auc=0.0, min_sensitivity=0.0, min_specificity=0.0,
                                    max_auc_drop=0.01),
    )
    worse = run(worse_cfg)
    return cfg, first, second, worse


@pytest.fixture(scope="session")
def compiled_spec(tmp_path_factory) -> Path:
    """The default Kubeflow config compiled once per session (KFP v2 pipeline spec JSON)."""
    from pipeline.orchestration.kubeflow import compile_pipeline, load_kubeflow_config

    return compile_pipeline(load_kubeflow_config(),
                            tmp_path_factory.mktemp("kfp") / "cyclecast.json")


@pytest.fixture(scope="session")
def mysql_server():
    """The MariaDB server ``./dev test`` starts (see tests/mysql.py)."""
    from tests.mysql import server_from_environment

    return server_from_environment()


@pytest.fixture
def mysql_database(mysql_server):
    """A fresh, empty MySQL database for one test, dropped afterwards."""
    from tests.mysql import drop_database, new_database

    name = new_database(mysql_server)
    yield name
    drop_database(mysql_server, name)


# Fixtures that run pipelines, Beam jobs or servers: a test using one is an end-to-end test.
E2E_FIXTURES = frozenset({"pipeline_runs", "compiled_spec", "sqlite_mlflow", "mariadb_mlflow"})


def pytest_collection_modifyitems(config, items):
    """Refuse to start when a test uses a pipeline-running fixture without the ``e2e`` mark.

    The fast loop (``-m "not e2e"``) relies on the mark; a missing one would make it pay for
    a pipeline run (minutes) without anyone noticing.
    """
    unmarked = [
        item.nodeid
        for item in items
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("e2e") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use a pipeline-running fixture but are not marked e2e: "
            + ", ".join(unmarked)
        )
