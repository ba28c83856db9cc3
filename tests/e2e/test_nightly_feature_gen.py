"""NightlyFeatureGen as a TFX component: artifacts in ML Metadata, caching, cache busting."""

from __future__ import annotations

import json

import pytest

from tests.rawfiles import write_steady_root

pytestmark = pytest.mark.e2e



def _executions(metadata_path):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    store = metadata_store.MetadataStore(config)
    return store, [metadata_store_pb2.Execution.State.Name(e.last_known_state)
                   for e in store.get_executions()]


def test_component_outputs_caching_and_cycle_log_fingerprint(tmp_path):
    from tfx.orchestration import metadata, pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from components.nightly_features.component import NightlyFeatureGen, NightlyQuarantine

    data = tmp_path / "data"
    write_steady_root(data)
    salt = tmp_path / "salt"
    salt.write_text("component-test-salt-0123456789")
    db = tmp_path / "metadata.db"

    def run():
        gen = NightlyFeatureGen(input_base=str(data), salt_file=str(salt),
                                span_store=str(tmp_path / "root" / "spans"))
        LocalDagRunner().run(pipeline.Pipeline(
            pipeline_name="nfg-test", pipeline_root=str(tmp_path / "root"), components=[gen],
            enable_cache=True,
            metadata_connection_config=metadata.sqlite_metadata_connection_config(str(db)),
            beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"]))

    run()
    store, states = _executions(db)
    assert states == ["COMPLETE"]
    # the labelled examples (the other Examples output holds the prediction requests)
    examples = next(a for a in store.get_artifacts_by_type("Examples")
                    if "examples_train" in a.custom_properties)
    assert json.loads(examples.properties["split_names"].string_value) == ["train", "eval", "test"]
    counts = {s: examples.custom_properties[f"examples_{s}"].int_value
              for s in ("train", "eval", "test")}
    assert sum(counts.values()) == 18
    quarantine = store.get_artifacts_by_type(NightlyQuarantine.TYPE_NAME)[0]
    assert quarantine.custom_properties["files"].int_value == 18
    summary = json.loads((tmp_path / quarantine.uri / "summary.json").read_text())
    assert summary["valid_nights"] == 18 and summary["examples_by_split"] == counts

    run()  # same inputs: served from cache
    assert _executions(db)[1] == ["COMPLETE", "CACHED"]

    # a corrected cycle log changes labels: it must not be served from cache
    cycles = (data / "cycles.csv").read_text().replace("28,14,5", "28,12,5")
    (data / "cycles.csv").write_text(cycles)
    run()
    assert _executions(db)[1] == ["COMPLETE", "CACHED", "COMPLETE"]
