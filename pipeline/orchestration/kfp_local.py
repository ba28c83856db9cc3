"""Run a compiled KFP v2 pipeline spec here, task by task, as Kubeflow's open-source backend would.

A stand-in for Kubeflow Pipelines' open-source backend at 2.17.0 (kubeflow/pipelines commit
4a3592cb2dd0a91a4652ab93893ec8beda1f3158; paths below are under ``backend/src/``), not for what
TFX's Vertex-era entrypoint hopes to receive. It

* refuses what the API server and the Argo compiler refuse, naming the task (the checks are in
  ``kfp_admission``): a ``schemaVersion``
  other than 2.1.0 (apiserver/template/v2_template.go:230-231, the constant at
  apiserver/template/template.go:51), an empty pipeline name (v2_template.go:233-234), resolver
  executors (v2/compiler/argocompiler/dag.go:348-349), a ``triggerPolicy.condition`` on an
  importer (dag.go:338-341), custom jobs (dag.go:350-351), an input from an unknown task
  (dag.go:659-667), an importer whose ``artifactUri`` constant is empty
  (v2/component/importer_launcher.go:207-212; a runtime parameter that resolves to "" fails when
  the importer runs, importer_launcher.go:236-238), a run without a value for a required pipeline
  parameter (v2_template.go validatePipelineJobInputs), and a ``constantValue`` parameter (a
  schema-2.0.0 form the driver does not implement, v2/driver/resolve.go:455-456);
* builds each container task's ``ExecutorInput`` as the driver does: parameters only as
  ``parameterValues`` (resolve.go:139-142, 324-357), checked and converted by type
  (resolve.go:169-256); input artifacts as they come back from ML Metadata, named by their
  artifact id, with an empty ``instanceSchema`` and the metadata the launcher recorded, including
  ``display_name`` and ``store_session_info`` (v2/metadata/converter.go:181-221,
  v2/metadata/client.go:245-260, 1144, 1234-1250); outputs under
  ``<root>/<pipeline name>/<run id>/<task>/<uuid>/<key>`` (v2/metadata/client.go:420,
  v2/driver/driver.go:775, 786) with the ``executor-logs`` output added (driver.go:755-768) and
  qualified with the retry index (v2/component/launcher_v2.go:420, 538-600); the output metadata
  file at ``<task root>/output_metadata.json`` (driver.go:800-807); default parameter values
  added by the launcher (launcher_v2.go:425, 1310-1331);
* evaluates ``triggerPolicy`` conditions on the inputs only, after resolving them
  (v2/driver/container.go:79-95), and skips every task that depends on a task that did not
  succeed (the Argo tasks ``depends`` on ``<task>.Succeeded``, dag.go:708-726);
* runs importers without a container: an artifact with the given URI, type and metadata
  (importer_launcher.go:187-321);
* runs each container task's command (``python`` replaced by this interpreter) as a subprocess with
  the launcher's placeholders filled (launcher_v2.go:1051-1173), writes its stdout and stderr to the
  ``executor-logs`` artifact (launcher_v2.go:632-653, 700-711), raises ``TaskFailed`` on a non-zero
  exit, and otherwise reads the output metadata file back by output key (launcher_v2.go:719,
  804-807, 1188-1237) and records the outputs as ML Metadata would (converter.go:110-180).

Differences that remain: the pipeline root is a local directory (the launcher takes only
``gs://``, ``s3://``, ``minio://`` and ``mem://`` roots, v2/objectstore/config.go:130-139), so
URIs are local paths and nothing is downloaded or uploaded; no cache; no ML Metadata store (the
records live in the returned ``LocalExecution``); tasks run one at a time; nested DAGs, iterators
and exit handlers are not supported. Runs sharing a root each get their own run directory, and
earlier runs are never deleted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from pipeline.orchestration.kfp_admission import (
    SpecRefused,
    check_spec,
    components_and_executors,
    constant_string,
    pipeline_parameters,
    producers,
)

EXECUTOR_LOGS = "executor-logs"
RETRY_INDEX = "0"  # the first attempt (launcher_v2.go:591-593)


class TaskFailed(RuntimeError):
    """A task failed (its command exited non-zero, or the driver could not resolve it)."""


@dataclass
class LocalExecution:
    """What ran, in order, and what each task produced.

    ``outputs[task][key]`` is each declared output artifact as a downstream task receives it
    (``name``, ``uri``, ``type``, ``metadata``); ``executor_inputs[task]`` is the ExecutorInput the
    task's command received. ``pipeline_root`` is the run's own directory under the root.
    """

    order: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, dict]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    run_id: str = ""
    pipeline_root: str = ""
    executor_inputs: dict[str, dict] = field(default_factory=dict)


def task_order(tasks: dict) -> list[str]:
    """Tasks in an order where every task comes after the tasks it depends on.

    Dependencies are ``dependentTasks`` plus the producers of its inputs, as the Argo compiler
    adds them (dag.go:659-700).
    """
    deps = {name: producers(task) for name, task in tasks.items()}
    order: list[str] = []
    while deps:
        ready = sorted(n for n, d in deps.items() if d <= set(order))
        if not ready:
            raise ValueError(f"the task graph has a cycle among {sorted(deps)}")
        order.extend(ready)
        for n in ready:
            del deps[n]
    return order


_CONDITION = re.compile(
    r"^\(?inputs\.artifacts\['(?P<key>[^']+)'\]\.artifacts\[0\]\.metadata\['(?P<prop>[^']+)'\]"
    r" == (?P<value>[-0-9.]+)\)?$"
)


def condition_holds(condition: str, inputs_artifacts: dict) -> bool:
    """Evaluate a compiled ``triggerPolicy`` condition of the form TFX's ``Cond`` compiles to.

    Only the comparison TFX emits for ``artifact.custom_property(name) == number`` is known;
    anything else raises rather than guess. As the driver's CEL evaluation does
    (v2/expression/expression.go:134-162), a missing input, artifact or metadata key, or a value
    that is not a number, is an error (the task fails), not a false condition.
    """
    match = _CONDITION.match(condition.strip())
    if not match:
        raise ValueError(f"unsupported trigger condition: {condition}")
    artifacts = inputs_artifacts.get(match["key"], {}).get("artifacts") or []
    if not artifacts:
        raise ValueError(f"condition {condition!r}: no input artifact {match['key']!r}")
    metadata = artifacts[0].get("metadata") or {}
    if match["prop"] not in metadata:
        raise ValueError(f"condition {condition!r}: no such key {match['prop']!r} in the metadata")
    value = metadata[match["prop"]]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"condition {condition!r}: {match['prop']!r} is {value!r}, not a number")
    return float(value) == float(match["value"])


# --- what the API server and the Argo compiler refuse -----------------------------------------


# --- parameters -------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """``metadata.PbValueToText`` (v2/metadata/converter.go:15-47)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):  # strconv.FormatFloat(v, 'f', -1, 64)
        number = float(value)
        return str(int(number)) if number.is_integer() else format(Decimal(repr(number)), "f")
    return json.dumps(value, separators=(",", ":"))


_TYPE_CHECKS = {
    "NUMBER_INTEGER": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "NUMBER_DOUBLE": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "BOOLEAN": lambda v: isinstance(v, bool),
    "LIST": lambda v: isinstance(v, list),
    "STRUCT": lambda v: isinstance(v, dict),
    "TASK_FINAL_STATUS": lambda v: isinstance(v, dict),
}


def _check_parameter_types(name: str, values: dict, definitions: dict) -> None:
    """Type checks and conversions of the driver (resolve.go:169-256), in place."""
    for key, definition in definitions.items():
        if key not in values:
            if not definition.get("isOptional") and "defaultValue" not in definition:
                raise TaskFailed(
                    f"task {name}: neither value nor default value provided for non-optional "
                    f"parameter {key!r}"
                )
            continue
        value = values[key]
        kind = definition.get("parameterType", "")
        if kind == "STRING":
            if not isinstance(value, str):
                values[key] = _text(value)
        elif kind in _TYPE_CHECKS:
            if value is None or not _TYPE_CHECKS[kind](value):
                raise TaskFailed(
                    f"task {name}: input parameter {key!r} type mismatch: expect {kind}, "
                    f"got {type(value).__name__}"
                )


def _resolve_parameter(
    name: str, key: str, ref: dict, pipeline: dict, context: dict, produced: dict
) -> tuple[bool, Any]:
    """(present, value) of one task input parameter, as the driver resolves it."""
    if "componentInputParameter" in ref:  # resolve.go:389-405
        source = ref["componentInputParameter"]
        if source not in pipeline:
            raise TaskFailed(f"task {name}: parent DAG does not have input parameter {source}")
        value = pipeline[source]
        return (value is not None), value
    if "runtimeValue" in ref:
        runtime = ref["runtimeValue"]
        if "constant" not in runtime:  # resolve.go:455-456 (constantValue is schema 2.0.0)
            raise SpecRefused(
                f"task {name}: parameter {key!r} has a runtime value of a kind the driver does not "
                f"implement ({sorted(runtime)}; schema 2.1.0 uses 'constant')"
            )
        value = runtime["constant"]
        if isinstance(value, str) and value in context:  # resolve.go:435-452
            value = context[value]
        return True, value
    if "taskOutputParameter" in ref:  # resolve.go:407-421
        source = ref["taskOutputParameter"]
        values = produced.get(source["producerTask"], {})
        if source["outputParameterKey"] not in values:
            raise TaskFailed(
                f"task {name}: producer task {source['producerTask']!r} has no output parameter "
                f"{source['outputParameterKey']!r}"
            )
        return True, values[source["outputParameterKey"]]
    raise SpecRefused(f"task {name}: parameter {key!r} of an unsupported kind {sorted(ref)}")


# --- artifacts as ML Metadata records and returns them ----------------------------------------


def _mlmd_value(value: Any) -> Any:
    """A metadata value after ``StructValueToMLMDValue`` and back (converter.go:138-221)."""
    if isinstance(value, bool):
        return float(int(value))  # stored as an int, read back as a number
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return {"list": value}
    if isinstance(value, dict):
        return {"struct": value}
    return value


class _Store:
    """The part of ML Metadata the driver reads: artifacts by producer task and output key.

    Artifact ids are unique across the runs that share a pipeline root, as ML Metadata's are
    across runs (a counter kept in ``<root>/.kfp_local/next_artifact_id``): TFX turns an input's
    id into its artifact's ``id``, which a component may record and meet again on a later night.
    """

    def __init__(self, root: Path) -> None:
        self.counter = root / ".kfp_local" / "next_artifact_id"
        self.next_id = int(self.counter.read_text()) if self.counter.is_file() else 1
        self.artifacts: dict[str, dict[str, dict]] = {}

    def record(self, task: str, key: str, uri: str, metadata: dict, display_name: bool) -> dict:
        """Record an output; return it as the driver will hand it to a consumer."""
        stored = {k: _mlmd_value(v) for k, v in metadata.items() if k != "_kfp_workspace"}
        if display_name:
            stored.setdefault("display_name", key)  # client.go:1234-1237
        stored.setdefault("store_session_info", "null")  # client.go:1243-1250, no session here
        artifact = {
            "name": str(self.next_id),  # converter.go:187: the artifact id
            "uri": uri,
            "type": {"instanceSchema": ""},  # client.go:253-258 with Schema "" (client.go:1144)
            "metadata": stored,
        }
        self.next_id += 1
        self.counter.parent.mkdir(parents=True, exist_ok=True)
        self.counter.write_text(str(self.next_id))
        self.artifacts.setdefault(task, {})[key] = artifact
        return artifact


# --- placeholders the launcher fills ----------------------------------------------------------


def _placeholder_text(value: Any) -> str:
    """How the launcher writes an input parameter into a placeholder (launcher_v2.go:1140-1164)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _text(value)
    return json.dumps(value, separators=(",", ":"))


def compile_args(executor_input: dict, args: list[str]) -> list[str]:
    """``compileCmdAndArgs`` (launcher_v2.go:1051-1173) for local URIs.

    ``{{$}}`` becomes the ExecutorInput JSON; ``.uri``, ``.path`` (the local path is the URI
    here), parameter and output-file placeholders their values.
    """
    placeholders = {"{{$}}": json.dumps(executor_input)}
    inputs = executor_input.get("inputs", {})
    outputs = executor_input.get("outputs", {})
    for side, artifacts in (("inputs", inputs), ("outputs", outputs)):
        for key, artifact_list in artifacts.get("artifacts", {}).items():
            if artifact_list.get("artifacts"):
                uri = artifact_list["artifacts"][0]["uri"]
                placeholders[f"{{{{$.{side}.artifacts['{key}'].uri}}}}"] = uri
                placeholders[f"{{{{$.{side}.artifacts['{key}'].path}}}}"] = uri
    for key, value in inputs.get("parameterValues", {}).items():
        placeholders[f"{{{{$.inputs.parameters['{key}']}}}}"] = _placeholder_text(value)
    for key, parameter in outputs.get("parameters", {}).items():
        placeholders[f"{{{{$.outputs.parameters['{key}'].output_file}}}}"] = parameter["outputFile"]
    compiled = []
    for arg in args:
        arg = arg.replace("{{$}}", placeholders["{{$}}"])
        for placeholder, value in placeholders.items():
            arg = arg.replace(placeholder, value)
        compiled.append(arg)
    return compiled


# --- the run ----------------------------------------------------------------------------------


def _load(spec_path: str | Path) -> tuple[dict, dict]:
    """(pipeline spec, run-time parameter values) from a PipelineJob file or a bare spec."""
    doc = json.loads(Path(spec_path).read_text())
    if "pipelineSpec" in doc:
        return doc["pipelineSpec"], doc.get("runtimeConfig", {}).get("parameterValues", {})
    return doc, {}


def _output_artifacts(task_root: str, definitions: dict) -> dict[str, dict]:
    """``provisionOutputs``' artifacts (driver.go:752-792), with the launcher's log suffix."""
    artifacts = dict(definitions)
    artifacts[EXECUTOR_LOGS] = {"artifactType": {"schemaTitle": "system.Artifact"}}
    provisioned = {}
    for key, definition in artifacts.items():
        uri = f"{task_root}/{key}"
        if key == EXECUTOR_LOGS:
            uri += f"-{RETRY_INDEX}"  # launcher_v2.go:538-567
        artifact = {"name": key, "uri": uri, "type": definition["artifactType"]}
        if definition.get("metadata"):
            artifact["metadata"] = definition["metadata"]
        provisioned[key] = {"artifacts": [artifact]}
    return provisioned


def run_spec_locally(
    spec_path: str | Path,
    work_dir: str | Path,
    parameters: dict | None = None,
    env: dict | None = None,
    log: TextIO = sys.stderr,
    *,
    run_id: str | None = None,
) -> LocalExecution:
    """Run the compiled spec under the pipeline root ``work_dir`` as the 2.17 backend would.

    ``spec_path`` is a PipelineJob file (KubeflowV2DagRunner's output) or the bare PipelineSpec
    the API server takes; a job file's ``runtimeConfig.parameterValues`` stand for the run's own
    (the API server takes them, and the pipeline root, from the run: template.go:166-181).
    ``parameters`` override them; ``env`` is added to every task's environment. Each run writes
    under ``<work_dir>/<pipeline name>/<run_id>/`` (``run_id`` defaults to a new UUID, as KFP's),
    so runs can share one root. Raises ``SpecRefused`` before
    anything runs when the backend would refuse the spec, and ``TaskFailed`` on the first task
    that fails.
    """
    spec, runtime = _load(spec_path)
    check_spec(spec)
    pipeline = pipeline_parameters(spec, {**runtime, **(parameters or {})})
    pipeline_name = spec["pipelineInfo"]["name"]
    run_id = run_id or str(uuid.uuid4())
    root = Path(work_dir).absolute()
    run_root = f"{root}/{pipeline_name}/{run_id}"  # client.go:420
    components, executors = components_and_executors(spec)
    tasks = spec["root"]["dag"]["tasks"]
    store = _Store(root)
    produced_parameters: dict[str, dict] = {}
    succeeded: set[str] = set()
    result = LocalExecution(run_id=run_id, pipeline_root=run_root)
    order = task_order(tasks)
    for n, name in enumerate(order):
        task = tasks[name]
        if not producers(task) <= succeeded:  # Argo: depends "<task>.Succeeded" (dag.go:713-726)
            result.skipped.append(name)
            continue
        component = components[task["componentRef"]["name"]]
        executor = executors[component["executorLabel"]]
        context = {
            "{{$.pipeline_job_name}}": run_id,
            "{{$.pipeline_job_resource_name}}": run_id,
            "{{$.pipeline_job_uuid}}": run_id,
            "{{$.pipeline_task_name}}": name,
        }
        parameter_values: dict[str, Any] = {}
        for key, ref in task.get("inputs", {}).get("parameters", {}).items():
            present, value = _resolve_parameter(
                name, key, ref, pipeline, context, produced_parameters
            )
            if present:
                parameter_values[key] = value
        if "importer" in executor:
            _import(name, task, executor["importer"], component, pipeline, store, result)
            succeeded.add(name)
            continue
        definitions = component.get("inputDefinitions", {}).get("parameters", {})
        _check_parameter_types(name, parameter_values, definitions)
        input_artifacts = {}
        for key, ref in task.get("inputs", {}).get("artifacts", {}).items():
            if "taskOutputArtifact" not in ref:
                raise NotImplementedError(f"task {name}: input {key!r} is not a task output")
            source = ref["taskOutputArtifact"]
            artifact = store.artifacts.get(source["producerTask"], {}).get(
                source["outputArtifactKey"]
            )
            if artifact is None:
                raise TaskFailed(
                    f"task {name}: cannot find output artifact key "
                    f"{source['outputArtifactKey']!r} in producer task {source['producerTask']!r}"
                )
            input_artifacts[key] = {"artifacts": [json.loads(json.dumps(artifact))]}
        inputs: dict[str, Any] = {}
        if parameter_values:
            inputs["parameterValues"] = parameter_values
        if input_artifacts:
            inputs["artifacts"] = input_artifacts
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition:
            try:
                holds = condition_holds(condition, input_artifacts)
            except ValueError as error:
                raise TaskFailed(f"task {name}: {error}") from error
            if not holds:
                result.skipped.append(name)  # a false condition: not triggered
                continue
        task_root = f"{run_root}/{name}/{uuid.uuid4()}"  # driver.go:775
        outputs: dict[str, Any] = {
            "artifacts": _output_artifacts(
                task_root, component.get("outputDefinitions", {}).get("artifacts", {})
            ),
            "outputFile": f"{task_root}/output_metadata.json",  # driver.go:800-807
        }
        output_parameters = component.get("outputDefinitions", {}).get("parameters", {})
        if output_parameters:  # driver.go:794-798, one directory per task here
            outputs["parameters"] = {
                key: {"outputFile": f"{task_root}/outputs/{key}"} for key in output_parameters
            }
        launched = json.loads(json.dumps({"inputs": inputs, "outputs": outputs}))
        for key, definition in definitions.items():  # launcher_v2.go:1310-1331
            if "defaultValue" in definition and key not in parameter_values:
                launched["inputs"].setdefault("parameterValues", {})[key] = definition[
                    "defaultValue"
                ]
        result.executor_inputs[name] = launched
        Path(task_root).mkdir(parents=True, exist_ok=True)  # launcher_v2.go:1280-1307
        for parameter in outputs.get("parameters", {}).values():
            Path(parameter["outputFile"]).parent.mkdir(parents=True, exist_ok=True)
        container = executor["container"]
        command = compile_args(launched, list(container.get("command", [])))
        if command and command[0] == "python":
            command[0] = sys.executable
        args = compile_args(launched, list(container.get("args", [])))
        log.write(f"[{n + 1:2d}/{len(order)}] {name} ...\n")
        started = time.monotonic()
        proc = subprocess.run(
            command + args,
            capture_output=True,
            text=True,
            env={**os.environ, **{k: str(v) for k, v in (env or {}).items()}},
        )
        result.seconds[name] = time.monotonic() - started
        Path(outputs["artifacts"][EXECUTOR_LOGS]["artifacts"][0]["uri"]).write_text(
            proc.stdout + proc.stderr
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
            raise TaskFailed(f"task {name} exited {proc.returncode}:\n{tail}")
        written = _read_output_file(name, outputs["outputFile"])
        recorded = {}
        for key, artifact_list in outputs["artifacts"].items():
            artifact = artifact_list["artifacts"][0]
            metadata = dict(artifact.get("metadata") or {})
            uri = artifact["uri"]
            from_executor = (written.get("artifacts", {}).get(key) or {}).get("artifacts") or []
            if from_executor and key != EXECUTOR_LOGS:  # launcher_v2.go:804-807, 1188-1206
                uri = from_executor[0].get("uri") or uri
                metadata.update(from_executor[0].get("metadata") or {})
            stored = store.record(name, key, uri, metadata, display_name=True)
            if key != EXECUTOR_LOGS:
                recorded[key] = stored
        produced_parameters[name] = _output_parameters(
            name, written, outputs.get("parameters", {}), output_parameters
        )
        result.outputs[name] = recorded
        result.order.append(name)
        succeeded.add(name)
    return result


def _read_output_file(name: str, path: str) -> dict:
    """``getExecutorOutputFile`` (launcher_v2.go:1208-1237): no file is an empty output."""
    file = Path(path)
    if not file.exists():
        return {}
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise TaskFailed(f"task {name}: failed to unmarshall ExecutorOutput in {path}") from error


def _output_parameters(name: str, written: dict, files: dict, definitions: dict) -> dict:
    """``collectOutputParameters`` (launcher_v2.go:484-515): the file's values, else each file."""
    values = dict(written.get("parameterValues", {}))
    for key, parameter in files.items():
        if key in values:
            continue
        try:
            text = Path(parameter["outputFile"]).read_text()
        except OSError as error:
            raise TaskFailed(f"task {name}: failed to read output parameter {key!r}") from error
        kind = definitions.get(key, {}).get("parameterType", "STRING")
        values[key] = text if kind == "STRING" else json.loads(text)
    return values


_BUCKET = re.compile(r"^([a-z][a-z0-9]+:///?)([^/?]+)(/[^?]*)?(\?.+)?$")  # config.go:118
_PROVIDERS = ("gs://", "s3://", "minio://", "mem://")  # config.go:137


def _import(
    name: str,
    task: dict,
    importer: dict,
    component: dict,
    pipeline: dict,
    store: _Store,
    result: LocalExecution,
) -> None:
    """Run an importer: record an artifact with the given URI (importer_launcher.go:187-321).

    A runtime-parameter URI comes from the pipeline parameter the task's input names
    (importer_launcher.go:213-238). The URI must be an object-store URI the launcher knows a
    provider for (importer_launcher.go:277-280 with v2/objectstore/config.go:118-139), or an
    ``oci://`` ``system.Model`` (importer_launcher.go:262-275).
    """
    source = importer.get("artifactUri", {})
    if "constant" in source:
        uri = constant_string(source["constant"])
    else:
        parameter = source["runtimeParameter"]
        task_input = task.get("inputs", {}).get("parameters", {}).get(parameter)
        if task_input is None:  # importer_launcher.go:216-219
            raise TaskFailed(
                f"task {name}: cannot find parameter {parameter} in task input to fetch "
                "artifact uri"
            )
        source_parameter = task_input.get("componentInputParameter", "")
        if source_parameter not in pipeline:  # importer_launcher.go:230-233
            raise TaskFailed(
                f"task {name}: error resolving artifact URI: parent DAG does not have input "
                f"parameter {source_parameter}"
            )
        value = pipeline[source_parameter]
        uri = value if isinstance(value, str) else ""
        if not uri:  # importer_launcher.go:236-238
            raise TaskFailed(
                f"task {name}: empty artifact URI runtime value for parameter {parameter}"
            )
    title = _title(importer.get("typeSchema", {}))
    if uri.startswith("oci://"):
        if title != "system.Model":
            raise TaskFailed(f"task {name}: the {title} artifact type does not support OCI")
        session = "null"
    else:
        match = _BUCKET.match(uri)
        if not match or match.group(1) not in _PROVIDERS:
            raise TaskFailed(f"task {name}: no provider scheme found in artifact URI: {uri}")
        session = json.dumps(  # importer_launcher.go:283-294
            {"Provider": match.group(1).removesuffix("://"), "Params": {"fromEnv": "true"}},
            separators=(",", ":"),
        )
    metadata = dict(importer.get("metadata") or {})
    metadata.setdefault("store_session_info", session)
    (key,) = component["outputDefinitions"]["artifacts"]
    artifact = store.record(name, key, uri, metadata, display_name=False)
    result.outputs[name] = {key: artifact}
    result.order.append(name)


def _title(artifact_type: dict) -> str:
    if artifact_type.get("schemaTitle"):
        return str(artifact_type["schemaTitle"])
    match = re.search(r"^title:\s*(\S+)", artifact_type.get("instanceSchema", ""), re.MULTILINE)
    return match.group(1) if match else ""
