"""The local stand-in for Kubeflow Pipelines' open-source backend (2.17.0) runs small 2.1.0 specs.

Each container here is a ``python -c`` script that records the ExecutorInput it received and
writes the output metadata file, so every test runs in well under a second. Line references are
to kubeflow/pipelines at 4a3592cb2dd0a91a4652ab93893ec8beda1f3158, under ``backend/src/``.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from pipeline.orchestration.kfp_admission import SpecRefused
from pipeline.orchestration.kfp_local import (
    TaskFailed,
    condition_holds,
    run_spec_locally,
)

# Writes every declared output's directory (with the ExecutorInput it got in received.json) and an
# output metadata file whose metadata is argv[2] (key -> metadata), like TFX's entrypoint.
WRITER = r"""
import json, os, sys
ei = json.loads(sys.argv[1])
metadata = json.loads(sys.argv[2])
out = {"artifacts": {}}
for key, artifact_list in ei["outputs"]["artifacts"].items():
    if key == "executor-logs":
        continue
    uri = artifact_list["artifacts"][0]["uri"]
    os.makedirs(uri, exist_ok=True)
    with open(os.path.join(uri, "received.json"), "w") as f:
        f.write(sys.argv[1])
    out["artifacts"][key] = {"artifacts": [{"name": key, "uri": uri,
                                             "metadata": metadata.get(key, {})}]}
os.makedirs(os.path.dirname(ei["outputs"]["outputFile"]), exist_ok=True)
with open(ei["outputs"]["outputFile"], "w") as f:
    f.write(json.dumps(out))
print("wrote", ei["outputs"]["outputFile"])
"""

EXAMPLES = {"instanceSchema": "title: tfx.Examples\ntype: object\nproperties:\n  span:\n"}
MODEL = {"instanceSchema": "title: tfx.Model\ntype: object\n"}
SCHEMA = {"instanceSchema": "title: tfx.Schema\ntype: object\n"}


def _container(metadata: dict | None = None, script: str = WRITER) -> dict:
    return {
        "container": {
            "image": "cyclecast/pipeline:test",
            "command": ["python", "-c", script],
            "args": ["{{$}}", json.dumps(metadata or {})],
        }
    }


def _component(label: str, inputs=None, outputs=None, parameters=None) -> dict:
    component: dict = {"executorLabel": label}
    if inputs or parameters:
        component["inputDefinitions"] = {}
        if inputs:
            component["inputDefinitions"]["artifacts"] = {
                k: {"artifactType": t} for k, t in inputs.items()
            }
        if parameters:
            component["inputDefinitions"]["parameters"] = parameters
    if outputs:
        component["outputDefinitions"] = {
            "artifacts": {k: {"artifactType": t} for k, t in outputs.items()}
        }
    return component


def _task(component: str, artifacts=None, parameters=None, condition=None, deps=None) -> dict:
    task: dict = {"taskInfo": {"name": component}, "componentRef": {"name": component}}
    inputs: dict = {}
    if artifacts:
        inputs["artifacts"] = {
            key: {"taskOutputArtifact": {"producerTask": producer, "outputArtifactKey": output}}
            for key, (producer, output) in artifacts.items()
        }
    if parameters:
        inputs["parameters"] = parameters
    if inputs:
        task["inputs"] = inputs
    if condition:
        task["triggerPolicy"] = {"condition": condition}
    if deps:
        task["dependentTasks"] = deps
    return task


def _write(
    path: Path,
    tasks: dict,
    components: dict,
    executors: dict,
    root_parameters: dict | None = None,
    version: str = "2.1.0",
    runtime: dict | None = None,
) -> Path:
    """A PipelineJob file as TFX's KubeflowV2DagRunner writes it."""
    spec = {
        "schemaVersion": version,
        "pipelineInfo": {"name": "tiny"},
        "root": {"dag": {"tasks": tasks}},
        "components": components,
        "deploymentSpec": {"executors": executors},
    }
    if root_parameters:
        spec["root"]["inputDefinitions"] = {"parameters": root_parameters}
    job = {"displayName": "tiny", "pipelineSpec": spec, "runtimeConfig": {}}
    if runtime:
        job["runtimeConfig"]["parameterValues"] = runtime
    path.write_text(json.dumps(job))
    return path


def _two_step(tmp_path: Path, gen_metadata: dict, condition: str | None = None) -> Path:
    """gen (params, output examples) -> use (input examples, output model) -> after (model)."""
    return _write(
        tmp_path / "spec.json",
        tasks={
            "gen": _task(
                "gen",
                parameters={
                    "steps": {"runtimeValue": {"constant": 5}},
                    "night": {"componentInputParameter": "night"},
                    "label": {"runtimeValue": {"constant": 7}},
                },
            ),
            "use": _task("use", artifacts={"examples": ("gen", "examples")}, condition=condition),
            "after": _task("after", artifacts={"model": ("use", "model")}),
        },
        components={
            "gen": _component(
                "gen_executor",
                outputs={"examples": EXAMPLES},
                parameters={
                    "steps": {"parameterType": "NUMBER_INTEGER"},
                    "night": {"parameterType": "STRING"},
                    "label": {"parameterType": "STRING"},
                    "seed": {"parameterType": "NUMBER_INTEGER", "defaultValue": 42},
                },
            ),
            "use": _component(
                "use_executor", inputs={"examples": EXAMPLES}, outputs={"model": MODEL}
            ),
            "after": _component("after_executor", inputs={"model": MODEL}),
        },
        executors={
            "gen_executor": _container({"examples": gen_metadata}),
            "use_executor": _container({"model": {"blessed": True}}),
            "after_executor": _container(),
        },
        root_parameters={"night": {"parameterType": "STRING"}},
    )


def test_each_task_receives_the_executor_input_the_driver_and_launcher_build(tmp_path):
    metadata = {"split_names": '["train", "eval"]', "span": 3, "train": 1, "tags": ["a"]}
    spec = _two_step(tmp_path, metadata)
    result = run_spec_locally(
        spec, tmp_path / "root", {"night": "2026-01-10"}, log=io.StringIO(), run_id="run-1"
    )

    assert result.order == ["gen", "use", "after"] and result.skipped == []
    run_root = f"{(tmp_path / 'root').absolute()}/tiny/run-1"  # v2/metadata/client.go:420
    assert result.pipeline_root == run_root
    gen = result.executor_inputs["gen"]
    # parameterValues only (resolve.go:139-142, 356); STRING-typed values converted to text
    # (resolve.go:202-217); the component's default added by the launcher (launcher_v2.go:1310-1331)
    assert gen["inputs"] == {
        "parameterValues": {"steps": 5, "night": "2026-01-10", "label": "7", "seed": 42}
    }
    use = result.executor_inputs["use"]
    # the input as ML Metadata hands it back: named by its artifact id, empty instanceSchema,
    # numbers as doubles, a list wrapped as {"list": ...}, display_name and store_session_info
    # added by the launcher (converter.go:138-221, client.go:245-260, 1144, 1234-1250)
    (examples,) = use["inputs"]["artifacts"]["examples"]["artifacts"]
    gen_root = result.outputs["gen"]["examples"]["uri"].rsplit("/", 1)[0]
    assert examples == {
        "name": "1",
        "uri": f"{gen_root}/examples",
        "type": {"instanceSchema": ""},
        "metadata": {
            "split_names": '["train", "eval"]',
            "span": 3.0,
            "train": 1.0,
            "tags": {"list": ["a"]},
            "display_name": "examples",
            "store_session_info": "null",
        },
    }
    assert "parameters" not in use["inputs"] and "parameterValues" not in use["inputs"]
    # outputs under <root>/<pipeline>/<run>/<task>/<uuid>/<key> (driver.go:775, 786), with the
    # executor-logs output (driver.go:755-768) qualified by the retry index (launcher_v2.go:538-567)
    outputs = use["outputs"]
    task_root = outputs["outputFile"].removesuffix("/output_metadata.json")  # driver.go:800-807
    assert re.fullmatch(re.escape(f"{run_root}/use/") + r"[0-9a-f-]{36}", task_root)
    assert outputs["artifacts"] == {
        "model": {"artifacts": [{"name": "model", "uri": f"{task_root}/model", "type": MODEL}]},
        "executor-logs": {
            "artifacts": [
                {
                    "name": "executor-logs",
                    "uri": f"{task_root}/executor-logs-0",
                    "type": {"schemaTitle": "system.Artifact"},
                }
            ]
        },
    }
    # the command got exactly this through {{$}}, and its output went to the logs artifact
    assert json.loads(Path(task_root, "model", "received.json").read_text()) == use
    assert "wrote" in Path(task_root, "executor-logs-0").read_text()
    # downstream sees what the executor wrote, recorded as ML Metadata records it
    model = result.outputs["use"]["model"]
    assert model["metadata"]["blessed"] == 1.0 and model["type"] == {"instanceSchema": ""}
    after = result.executor_inputs["after"]["inputs"]["artifacts"]["model"]["artifacts"][0]
    assert after == model


def test_a_bare_pipeline_spec_runs_as_the_api_server_takes_it(tmp_path):
    job = json.loads(_two_step(tmp_path, {"train": 1}).read_text())
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(job["pipelineSpec"]))
    result = run_spec_locally(bare, tmp_path / "root", {"night": "n"}, log=io.StringIO())
    assert result.order == ["gen", "use", "after"] and len(result.run_id) == 36


def test_parameters_of_the_wrong_type_fail_the_task_as_the_driver_does(tmp_path):
    spec = _write(
        tmp_path / "spec.json",
        tasks={"gen": _task("gen", parameters={"steps": {"runtimeValue": {"constant": "five"}}})},
        components={
            "gen": _component("gen_x", parameters={"steps": {"parameterType": "NUMBER_INTEGER"}})
        },
        executors={"gen_x": _container()},
    )
    with pytest.raises(TaskFailed, match=r"task gen: input parameter 'steps' type mismatch"):
        run_spec_locally(spec, tmp_path / "root", log=io.StringIO())


def _refused(tmp_path: Path, spec: Path, match: str, parameters: dict | None = None) -> None:
    with pytest.raises(SpecRefused, match=match):
        run_spec_locally(spec, tmp_path / "root", parameters, log=io.StringIO())
    assert not (tmp_path / "root").exists()  # refused before anything ran


def test_a_spec_that_is_not_schema_2_1_0_is_refused(tmp_path):
    # apiserver/template/v2_template.go:230-231
    spec = _write(
        tmp_path / "s.json",
        {"gen": _task("gen")},
        {"gen": _component("x")},
        {"x": _container()},
        version="2.0.0",
    )
    _refused(tmp_path, spec, "KFP only supports schema version 2.1.0, but .* has version 2.0.0")


def test_resolver_executors_are_refused_naming_the_task(tmp_path):
    # argocompiler/dag.go:348-349
    spec = _write(
        tmp_path / "s.json",
        {"latest_model": _task("r")},
        {"r": _component("r_x", outputs={"model": MODEL})},
        {"r_x": {"resolver": {"outputArtifactQueries": {}}}},
    )
    _refused(tmp_path, spec, "task latest_model: resolver executors not implemented")


def _importer_spec(tmp_path: Path, importer: dict, task: dict | None = None, **kw) -> Path:
    return _write(
        tmp_path / "s.json",
        {
            "schema_importer": task or _task("imp"),
            "use": _task("use", artifacts={"schema": ("schema_importer", "result")}),
        },
        {
            "imp": _component("imp_x", outputs={"result": SCHEMA}),
            "use": _component("use_x", inputs={"schema": SCHEMA}),
        },
        {"imp_x": {"importer": {"typeSchema": SCHEMA, **importer}}, "use_x": _container()},
        **kw,
    )


def test_a_condition_on_an_importer_is_refused(tmp_path):
    # argocompiler/dag.go:338-341
    task = _task("imp", condition="(inputs.artifacts['x'].artifacts[0].metadata['a'] == 1.0)")
    spec = _importer_spec(tmp_path, {"artifactUri": {"constant": "s3://b/schema"}}, task)
    _refused(tmp_path, spec, "task schema_importer: triggerPolicy.condition on importer task")


def test_an_importer_with_an_empty_uri_constant_is_refused(tmp_path):
    # v2/component/importer_launcher.go:207-212
    spec = _importer_spec(tmp_path, {"artifactUri": {"constant": ""}})
    _refused(tmp_path, spec, "task schema_importer: importer has an empty Artifact URI constant")


def test_a_schema_2_0_0_constant_value_and_a_missing_pipeline_parameter_are_refused(tmp_path):
    # the driver implements only runtimeValue.constant (v2/driver/resolve.go:422-456)
    legacy = {"steps": {"runtimeValue": {"constantValue": {"intValue": "5"}}}}
    spec = _write(
        tmp_path / "s.json",
        {"gen": _task("gen", parameters=legacy)},
        {"gen": _component("x", parameters={"steps": {"parameterType": "NUMBER_INTEGER"}})},
        {"x": _container()},
    )
    with pytest.raises(SpecRefused, match="task gen: parameter 'steps' has a runtime value"):
        run_spec_locally(spec, tmp_path / "root", log=io.StringIO())
    # a required pipeline parameter without a value or default (v2_template.go, the API server)
    spec = _two_step(tmp_path, {})
    _refused(tmp_path, spec, "no parameter.* provided: night")


def test_an_input_from_an_unknown_task_is_refused(tmp_path):
    # argocompiler/dag.go:659-667
    spec = _write(
        tmp_path / "s.json",
        {"use": _task("use", artifacts={"examples": ("gone", "examples")})},
        {"use": _component("x", inputs={"examples": EXAMPLES})},
        {"x": _container()},
    )
    _refused(tmp_path, spec, "task use: unknown producer task 'gone'")


def test_an_importer_produces_its_artifact_without_a_container(tmp_path):
    importer = {"artifactUri": {"constant": "s3://bucket/schema"}, "metadata": {"version": 2}}
    result = run_spec_locally(
        _importer_spec(tmp_path, importer), tmp_path / "root", log=io.StringIO()
    )
    assert result.order == ["schema_importer", "use"]
    assert "schema_importer" not in result.executor_inputs  # no container, no ExecutorInput
    (schema,) = result.executor_inputs["use"]["inputs"]["artifacts"]["schema"]["artifacts"]
    # importer_launcher.go:245-294: its metadata as custom properties, a store_session_info from
    # the URI's scheme, no display_name; read back with an empty instanceSchema
    assert schema == {
        "name": "1",
        "uri": "s3://bucket/schema",
        "type": {"instanceSchema": ""},
        "metadata": {
            "version": 2.0,
            "store_session_info": '{"Provider":"s3","Params":{"fromEnv":"true"}}',
        },
    }


def test_an_importer_fails_on_an_empty_runtime_uri_or_a_local_path(tmp_path):
    importer = {"artifactUri": {"runtimeParameter": "artifact_uri"}}
    task = _task("imp", parameters={"artifact_uri": {"componentInputParameter": "schema_uri"}})
    spec = _importer_spec(
        tmp_path, importer, task, root_parameters={"schema_uri": {"parameterType": "STRING"}}
    )
    # importer_launcher.go:236-238
    with pytest.raises(TaskFailed, match="empty artifact URI runtime value for parameter"):
        run_spec_locally(spec, tmp_path / "root", {"schema_uri": ""}, log=io.StringIO())
    # importer_launcher.go:277-280 with v2/objectstore/config.go:118-139
    with pytest.raises(TaskFailed, match="no provider scheme found in artifact URI: /data/s"):
        run_spec_locally(spec, tmp_path / "root", {"schema_uri": "/data/s"}, log=io.StringIO())
    result = run_spec_locally(spec, tmp_path / "root", {"schema_uri": "minio://mlpipeline/s"})
    assert result.outputs["schema_importer"]["result"]["uri"] == "minio://mlpipeline/s"


def test_a_false_condition_skips_the_task_and_every_task_after_it(tmp_path):
    condition = "(inputs.artifacts['examples'].artifacts[0].metadata['train'] == 1.0)"
    rests = run_spec_locally(
        _two_step(tmp_path, {"train": 0}, condition),
        tmp_path / "root",
        {"night": "n"},
        log=io.StringIO(),
    )
    # "after" has no condition, but its Argo task depends on use.Succeeded (dag.go:708-726)
    assert rests.order == ["gen"] and rests.skipped == ["use", "after"]
    trains = run_spec_locally(
        _two_step(tmp_path, {"train": 1}, condition),
        tmp_path / "root",
        {"night": "n"},
        log=io.StringIO(),
    )
    assert trains.order == ["gen", "use", "after"] and trains.skipped == []


def test_a_condition_on_missing_metadata_fails_the_task(tmp_path):
    condition = "(inputs.artifacts['examples'].artifacts[0].metadata['train'] == 1.0)"
    spec = _two_step(tmp_path, {"span": 1}, condition)
    with pytest.raises(TaskFailed, match="task use: .*no such key 'train'"):
        run_spec_locally(spec, tmp_path / "root", {"night": "n"}, log=io.StringIO())


def test_condition_holds_compares_numbers_only():
    condition = "(inputs.artifacts['examples'].artifacts[0].metadata['train'] == 1.0)"
    assert condition_holds(condition, {"examples": {"artifacts": [{"metadata": {"train": 1.0}}]}})
    assert not condition_holds(condition, {"examples": {"artifacts": [{"metadata": {"train": 0}}]}})
    with pytest.raises(ValueError, match="not a number"):
        condition_holds(condition, {"examples": {"artifacts": [{"metadata": {"train": "1"}}]}})
    with pytest.raises(ValueError, match="unsupported trigger condition"):
        condition_holds("inputs.parameter_values['x'] > 1", {})


LISTER = r"""
import json, os, sys
ei = json.loads(sys.argv[1])
root = ei["outputs"]["outputFile"].rsplit("/", 4)[0]  # <root>/<pipeline>/<run>/<task>/<uuid>/f
out = {"artifacts": {"report": {"artifacts": [{"metadata": {
    "runs": json.dumps(sorted(os.listdir(root)))}}]}}}
with open(ei["outputs"]["outputFile"], "w") as f:
    f.write(json.dumps(out))
"""


def test_two_runs_share_one_root_and_the_second_sees_the_first(tmp_path):
    spec = _write(
        tmp_path / "spec.json",
        {"look": _task("look")},
        {"look": _component("look_x", outputs={"report": MODEL})},
        {"look_x": _container(script=LISTER)},
    )
    root = tmp_path / "root"
    first = run_spec_locally(spec, root, log=io.StringIO(), run_id="night-1")
    second = run_spec_locally(spec, root, log=io.StringIO(), run_id="night-2")
    assert json.loads(first.outputs["look"]["report"]["metadata"]["runs"]) == ["night-1"]
    assert json.loads(second.outputs["look"]["report"]["metadata"]["runs"]) == [
        "night-1",
        "night-2",
    ]
    first_log = first.executor_inputs["look"]["outputs"]["artifacts"]["executor-logs"]
    assert Path(first_log["artifacts"][0]["uri"]).is_file()  # the first night is kept
    # artifact ids go on across runs, as ML Metadata's do: night 2's report is not night 1's id
    assert first.outputs["look"]["report"]["name"] != second.outputs["look"]["report"]["name"]


def test_a_failing_command_raises_task_failed_with_its_log_tail(tmp_path):
    script = "import sys; print('boom at the end'); sys.exit(3)"
    spec = _write(
        tmp_path / "spec.json",
        {"gen": _task("gen"), "use": _task("use", deps=["gen"])},
        {"gen": _component("gen_x"), "use": _component("use_x")},
        {"gen_x": _container(script=script), "use_x": _container()},
    )
    with pytest.raises(TaskFailed, match=r"(?s)task gen exited 3:.*boom at the end"):
        run_spec_locally(spec, tmp_path / "root", log=io.StringIO())


def test_an_executor_without_output_file_still_records_its_outputs(tmp_path):
    # launcher_v2.go:1215-1221: no file is an empty ExecutorOutput, outputs keep the driver's URI
    spec = _write(
        tmp_path / "spec.json",
        {"gen": _task("gen")},
        {"gen": _component("gen_x", outputs={"examples": EXAMPLES})},
        {"gen_x": _container(script="pass")},
    )
    result = run_spec_locally(spec, tmp_path / "root", log=io.StringIO())
    examples = result.outputs["gen"]["examples"]
    assert examples["uri"].endswith("/examples")
    assert examples["metadata"] == {"display_name": "examples", "store_session_info": "null"}
