"""What Kubeflow Pipelines' open-source backend (2.17.0) admits: the checks before a run starts.

The API server and the Argo compiler refuse a spec or a run before any task runs; these are those
checks, for ``kfp_local`` (the stand-in that then runs the tasks). Paths below are under
``backend/src/`` of kubeflow/pipelines at 4a3592cb2dd0a91a4652ab93893ec8beda1f3158.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = "2.1.0"


class SpecRefused(ValueError):
    """The open-source backend would refuse this spec or run; the message names the task."""


def producers(task: dict) -> set[str]:
    """The tasks a task depends on: its ``dependentTasks`` and the producers of its inputs."""
    found = set(task.get("dependentTasks", []))
    inputs = task.get("inputs", {})
    for ref in inputs.get("artifacts", {}).values():
        if "taskOutputArtifact" in ref:
            found.add(ref["taskOutputArtifact"]["producerTask"])
    for ref in inputs.get("parameters", {}).values():
        if "taskOutputParameter" in ref:
            found.add(ref["taskOutputParameter"]["producerTask"])
    return found


def components_and_executors(spec: dict) -> tuple[dict, dict]:
    """The spec's component definitions and its deployment executors, by name and label."""
    return spec.get("components", {}), spec.get("deploymentSpec", {}).get("executors", {})


def check_spec(spec: dict) -> None:
    """Raise ``SpecRefused`` for what the 2.17 API server or Argo compiler would refuse."""
    version = spec.get("schemaVersion", "")
    if version != SCHEMA_VERSION:
        raise SpecRefused(  # apiserver/template/v2_template.go:230-231
            f"KFP only supports schema version {SCHEMA_VERSION}, but the pipeline spec has "
            f"version {version or '(none)'}"
        )
    if not spec.get("pipelineInfo", {}).get("name"):
        raise SpecRefused("invalid v2 pipeline spec: name is empty")  # v2_template.go:233-234
    components, executors = components_and_executors(spec)
    tasks = spec.get("root", {}).get("dag", {}).get("tasks", {})
    for name, task in tasks.items():
        for producer in producers(task):
            if producer not in tasks:  # dag.go:659-667
                raise SpecRefused(f"task {name}: unknown producer task {producer!r} in DAG")
        component = components.get(task.get("componentRef", {}).get("name", ""))
        if component is None:
            raise SpecRefused(f"task {name}: component spec not found")  # dag.go:231-232
        if "dag" in component:
            raise NotImplementedError(f"task {name}: nested DAGs are not run by this stand-in")
        if "artifactIterator" in task:  # dag.go:68-69
            raise SpecRefused(f"task {name}: artifact iterator not implemented yet")
        if "parameterIterator" in task:
            raise NotImplementedError(f"task {name}: iterators are not run by this stand-in")
        label = component.get("executorLabel", "")
        if label not in executors:  # dag.go:283-285
            raise SpecRefused(f"task {name}: executor with label {label!r} not found")
        executor = executors[label]
        if "resolver" in executor:  # dag.go:348-349
            raise SpecRefused(f"task {name}: resolver executors not implemented")
        if "customJob" in executor:  # dag.go:350-351
            raise SpecRefused(
                f"task {name}: custom job executors is Google Cloud only, it's not supported"
            )
        if "importer" in executor:
            if task.get("triggerPolicy", {}).get("condition"):  # dag.go:338-341
                raise SpecRefused(
                    f"task {name}: triggerPolicy.condition on importer task is not supported"
                )
            uri = executor["importer"].get("artifactUri", {})
            if "constant" in uri and not constant_string(uri["constant"]):
                raise SpecRefused(  # importer_launcher.go:207-212
                    f"task {name}: importer has an empty Artifact URI constant value"
                )
            if not uri.get("constant") and not uri.get("runtimeParameter"):
                raise SpecRefused(f"task {name}: importer artifact uri not provided")  # :239-240
            outputs = component.get("outputDefinitions", {}).get("artifacts", {})
            if len(outputs) != 1:  # importer_launcher.go:343-353
                raise SpecRefused(f"task {name}: an importer must have exactly one output artifact")
        elif "container" not in executor:
            raise SpecRefused(f"task {name}: unknown executor spec type {sorted(executor)}")
        strategy = task.get("triggerPolicy", {}).get("strategy", "")
        if strategy == "ALL_UPSTREAM_TASKS_COMPLETED":
            raise NotImplementedError(f"task {name}: exit handlers are not run by this stand-in")


def constant_string(value: Any) -> str:
    """A string constant's text ("" for any other kind of value)."""
    # ValueOrRuntimeParameter.constant is a google.protobuf.Value: plain JSON in a spec file
    return value if isinstance(value, str) else ""


def pipeline_parameters(spec: dict, runtime: dict) -> dict[str, Any]:
    """The root DAG's parameters: the run's values, defaults filled as the Argo compiler does.

    A parameter without a value takes its ``defaultValue``, or null when optional
    (argocompiler/argo.go:96-106); one with neither is refused, as the API server refuses the run
    (v2_template.go validatePipelineJobInputs).
    """
    values = dict(runtime)
    definitions = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    for name, definition in definitions.items():
        if name in values:
            continue
        if "defaultValue" in definition:
            values[name] = definition["defaultValue"]
        elif definition.get("isOptional"):
            values[name] = None
        else:
            raise SpecRefused(f"pipeline requiring input has no parameter(s) provided: {name}")
    return values
