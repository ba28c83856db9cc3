"""KFP's own backend (release 2.0.5) turns `cyclecast compile`'s output into an Argo Workflow.

The compiler is the API server's path for a run, built with Go from the Go module proxy and cached
(tests/kfp_backend.py). The target is KFP 2.17.0, but the Go module proxy here refuses its commit
(403) and serves no release of the module newer than 2.0.5; 2.0.5's backend refuses resolver
executors and any schema but 2.1.0 with the same code and words as 2.17's, and takes a run through
the same steps (template, parameter checks, Argo compiler, Argo's validation). Source lines cited
are at commit c5658f09 (KFP 2.0.5), with 2.17's (commit 4a3592cb) where they are known.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from pipeline.orchestration.kubeflow import load_kubeflow_config, runtime_parameter_values
from tests.golden.refresh import GOLDEN
from tests.kfp_backend import (
    BINARY_ENV,
    KfpBuildError,
    KfpCompileError,
    compile_to_workflow,
    driver_condition,
    kfp_backend_compiler,  # noqa: F401 (the session fixture)
    kfp_compiler,
)

pytestmark = pytest.mark.e2e

# Tasks that run only on a night the training window says trains (a TFX Cond).
TRAINING = ("Transform", "Trainer", "Evaluator", "Pusher", "CalendarBaseline")
# What the friendly --param keys give, as `cyclecast submit --param` sends them.
PARAMS = {"train_steps": "50", "min_auc": "0.6", "min_sensitivity": "0.2"}
# Every compiled spec the suite holds: the default config's, the same with run-time parameters
# (test_kfp_execution's run and `cyclecast submit --param`), and the reviewed golden file.
SPECS = ["cyclecast compile", "cyclecast compile + --param", "golden file"]


def pipeline_tasks(spec_file: Path) -> dict[str, dict]:
    doc = json.loads(spec_file.read_text())
    return doc["pipelineSpec"]["root"]["dag"]["tasks"]


def templates(workflow: dict) -> dict[str, dict]:
    return {t["name"]: t for t in workflow["spec"]["templates"]}


def dag(workflow: dict, template: str = "root") -> dict[str, dict]:
    return {t["name"]: t for t in templates(workflow)[template]["dag"]["tasks"]}


def argument(task: dict, name: str) -> str:
    (value,) = [p["value"] for p in task["arguments"]["parameters"] if p["name"] == name]
    return value


def task_proto(task: dict):
    """A PipelineTaskSpec: the driver's copy is protojson, which leaves out false and empty."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    return json_format.ParseDict(task, pipeline_spec_pb2.PipelineTaskSpec())


def driver_task(workflow: dict, name: str):
    """The pipeline task that the driver of task ``name`` runs, as a PipelineTaskSpec."""
    return task_proto(json.loads(argument(dag(workflow)[f"{name}-driver"], "task")))


def workflow_parameters(workflow: dict) -> dict[str, str]:
    return {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}


@pytest.fixture(scope="session")
def run_parameters() -> dict[str, str]:
    return runtime_parameter_values(load_kubeflow_config(), PARAMS)


@pytest.fixture(scope="session")
def workflow(compiled_spec, kfp_backend_compiler, run_parameters, tmp_path_factory) -> dict:  # noqa: F811
    """The default compile as KFP's backend turns a run of it (with --param values) into Argo."""
    return compile_to_workflow(compiled_spec, tmp_path_factory.mktemp("argo"),
                               parameters=run_parameters, compiler=kfp_backend_compiler)


@pytest.mark.parametrize("which", SPECS)
def test_every_compiled_spec_compiles_to_an_argo_workflow(
        which, compiled_spec, kfp_backend_compiler, run_parameters, tmp_path):  # noqa: F811
    spec_file = GOLDEN if which == "golden file" else compiled_spec
    # without --param, `cyclecast submit` sends no parameter values: the compiled defaults must
    # do (apiserver/template/v2_template.go:356-362 refuses a required parameter without one;
    # :471-473 at 2.17)
    parameters = run_parameters if which.endswith("--param") else None
    workflow = compile_to_workflow(spec_file, tmp_path, parameters=parameters,
                                   compiler=kfp_backend_compiler)
    assert workflow["apiVersion"] == "argoproj.io/v1alpha1" and workflow["kind"] == "Workflow"
    # each pipeline task is a driver (resolves inputs, cache, condition) and its executor
    tasks = pipeline_tasks(spec_file)
    assert set(dag(workflow)) == set(tasks) | {f"{name}-driver" for name in tasks}


def test_the_workflow_runs_each_pipeline_task_after_its_upstream_tasks(workflow, compiled_spec):
    assert workflow["spec"]["entrypoint"] == "entrypoint"
    assert set(dag(workflow, "entrypoint")) == {"root-driver", "root"}
    tasks = pipeline_tasks(compiled_spec)
    root = dag(workflow)
    assert set(tasks) >= {"ImportSchemaGen", "NightlyFeatureGen", "StatisticsGen",
                          "ExampleValidator", "AnomalyGate", "DriftGate", "TrainingWindow",
                          "NightlyPredictions", *TRAINING}
    assert set(root) == set(tasks) | {f"{name}-driver" for name in tasks}
    for name, task in tasks.items():
        driver, executor = root[f"{name}-driver"], root[name]
        assert driver_task(workflow, name) == task_proto(task), name  # the task the driver runs
        upstream = set(task.get("dependentTasks", []))
        assert set(driver.get("depends", "").replace("&&", " ").split()) == {
            f"{up}.Succeeded" for up in upstream}, name
        assert executor["depends"] == f"{name}-driver.Succeeded"
        assert executor["template"] == "system-container-executor"


def container_proto(container: dict):
    """A PipelineContainerSpec: the annotation is protojson, which leaves out false and empty."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    return json_format.ParseDict(
        container, pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec())


def test_the_workflow_runs_the_configured_image(workflow, compiled_spec):
    config = load_kubeflow_config()
    spec = json.loads(compiled_spec.read_text())["pipelineSpec"]
    executors = spec["deploymentSpec"]["executors"]
    # each container component's container is a workflow annotation,
    # "pipelines.kubeflow.org/implementations-<component>" (argocompiler/container.go:33-43,
    # argo.go:187, 201-203); its task's driver reads it from there (dag.go:199-213, argo.go:245)
    implementations = "pipelines.kubeflow.org/implementations-"
    containers = {key[len(implementations):]: json.loads(value)
                  for key, value in workflow["metadata"]["annotations"].items()
                  if key.startswith(implementations)}
    expected = {name: executors[component["executorLabel"]]["container"]
                for name, component in spec["components"].items()
                if "container" in executors.get(component.get("executorLabel", ""), {})}
    assert set(containers) == set(expected)
    assert {c["image"] for c in containers.values()} == {config.image}
    for name, container in containers.items():
        assert container_proto(container) == container_proto(expected[name]), name
    root = dag(workflow)
    for name, task in pipeline_tasks(compiled_spec).items():
        component = task["componentRef"]["name"]
        assert argument(root[f"{name}-driver"], "container") == \
            f"{{{{workflow.annotations.{implementations}{component}}}}}", name


def test_training_tasks_run_only_on_a_night_the_window_says_trains(workflow, compiled_spec):
    tasks = pipeline_tasks(compiled_spec)
    root = dag(workflow)
    for name in TRAINING:
        condition = tasks[name]["triggerPolicy"]["condition"]
        # the driver evaluates the condition; the executor runs only when it did not say false
        assert driver_task(workflow, name).trigger_policy.condition == condition, name
        assert root[name]["when"] == f"{{{{tasks.{name}-driver.outputs.parameters.condition}}}}" \
                                     " != false", name
    for name in set(tasks) - set(TRAINING):
        assert "when" not in root[name], name


def test_the_driver_evaluates_the_training_condition_from_the_window(
        compiled_spec, kfp_backend_compiler):  # noqa: F811
    # The window's artifact carries train=1 or 0 (an MLMD int property, a number in the
    # artifact's metadata Struct); the driver evaluates the condition with its CEL environment.
    tasks = pipeline_tasks(compiled_spec)
    for name in TRAINING:
        condition = tasks[name]["triggerPolicy"]["condition"]
        keys = re.findall(r"inputs\.artifacts\['([^']+)'\]", condition)
        assert keys, (name, condition)

        def night(train: int, keys=keys) -> dict:
            window = {"artifacts": [{"name": "window", "metadata": {"train": train}}]}
            return {"inputs": {"artifacts": {key: window for key in keys}}}

        assert driver_condition(condition, night(1), compiler=kfp_backend_compiler), name
        assert not driver_condition(condition, night(0), compiler=kfp_backend_compiler), name


def test_the_run_carries_its_pipeline_root_parameters_and_cache_settings(
        workflow, run_parameters):
    config = load_kubeflow_config()
    runtime = json.loads(argument(dag(workflow, "entrypoint")["root-driver"], "runtime-config"))
    assert runtime == {"gcsOutputDirectory": config.pipeline.pipeline_root,
                       "parameterValues": run_parameters}
    assert driver_task(workflow, "NightlyFeatureGen").caching_options.enable_cache is False
    assert driver_task(workflow, "Transform").caching_options.enable_cache is True


def resolver_added(spec_file: Path, out: Path) -> Path:
    """The compiled spec with the resolver TFX 1.16 compiled for the latest pushed model."""
    doc = json.loads(spec_file.read_text())
    spec = doc["pipelineSpec"]
    name = "latest_pushed_model_resolver"
    spec["root"]["dag"]["tasks"][name] = {
        "componentRef": {"name": name}, "taskInfo": {"name": name},
        "inputs": {"parameters": {"source_uri": {"runtimeValue": {"constant": "{}"}}}},
    }
    spec["components"][name] = {
        "executorLabel": f"{name}_executor",
        "inputDefinitions": {"parameters": {"source_uri": {"parameterType": "STRING"}}},
        "outputDefinitions": {"artifacts": {"pushed_model": {
            "artifactType": {"instanceSchema": "title: tfx.PushedModel\ntype: object\n"}}}},
    }
    spec["deploymentSpec"]["executors"][f"{name}_executor"] = {"resolver": {
        "outputArtifactQueries": {"pushed_model": {
            "filter": 'schema_title="tfx.PushedModel" AND state=LIVE'}}}}
    out.write_text(json.dumps(doc))
    return out


def test_kfp_2_0_5_refuses_a_resolver_executor_as_2_17_does(
        compiled_spec, kfp_backend_compiler, run_parameters, tmp_path):  # noqa: F811
    spec_file = resolver_added(compiled_spec, tmp_path / "with_resolver.json")
    # The visitor reaches a task's component before its DAG, so the refusal is
    # backend/src/v2/compiler/visitor.go:128 ("non-container and non-importer executor not
    # implemented"; :134 at 2.17); argocompiler/dag.go:250 ("resolver executors not
    # implemented"; :348-349 at 2.17) would say the same for the task, were it reached.
    with pytest.raises(KfpCompileError, match=r'executor\(label="latest_pushed_model_resolver_'
                       r'executor"\): non-container and non-importer executor not implemented'):
        compile_to_workflow(spec_file, tmp_path / "out", parameters=run_parameters,
                            compiler=kfp_backend_compiler)


def test_kfp_2_0_5_refuses_any_schema_but_2_1_0_as_2_17_does(
        compiled_spec, kfp_backend_compiler, run_parameters, tmp_path):  # noqa: F811
    doc = json.loads(compiled_spec.read_text())
    old = copy.deepcopy(doc)
    old["pipelineSpec"]["schemaVersion"] = "2.0.0"
    (tmp_path / "old.json").write_text(json.dumps(old))
    # apiserver/template/v2_template.go:165-166 (:230-231 at 2.17), the same words
    with pytest.raises(KfpCompileError, match="KFP only supports schema version 2.1.0, but the "
                       "pipeline spec has version 2.0.0"):
        compile_to_workflow(tmp_path / "old.json", tmp_path / "out", parameters=run_parameters,
                            compiler=kfp_backend_compiler)


def test_without_go_the_build_fails_saying_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no `go` here
    with pytest.raises(KfpBuildError, match=r"Go is not installed: install Go >= 1\.20"):
        kfp_compiler(tmp_path / "tools")
