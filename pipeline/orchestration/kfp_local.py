"""Execute a compiled KFP v2 pipeline spec on this machine, task by task, as a KFP launcher would.

For each task in dependency order this builds the ``ExecutorInput`` that Kubeflow's launcher
passes through the ``{{$}}`` placeholder (input artifacts with their URIs and metadata, parameter
values, output artifacts and the output-metadata file), then runs the task's own container command
(TFX's ``kubeflow_v2_run_executor`` entry point) as a subprocess, and reads the executor's output
metadata back for the downstream tasks. It shows that the compiled spec executes, not only parses.

What it cannot do: run containers (no image is pulled: the command runs in this environment), and
answer the resolver tasks' metadata queries; a resolver resolves to nothing, as on a first run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


class TaskFailed(RuntimeError):
    """A task's command exited non-zero; the message has the end of its log."""


@dataclass
class LocalExecution:
    """What ran, in order, and each task's output artifacts (as ExecutorInput artifact dicts)."""

    order: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, dict]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def task_order(tasks: dict) -> list[str]:
    """Tasks in an order where every task comes after the tasks it depends on."""
    deps = {name: set(t.get("dependentTasks", [])) for name, t in tasks.items()}
    for name, task in tasks.items():
        for ref in task.get("inputs", {}).get("artifacts", {}).values():
            if "taskOutputArtifact" in ref:
                deps[name].add(ref["taskOutputArtifact"]["producerTask"])
    order: list[str] = []
    while deps:
        ready = sorted(n for n, d in deps.items() if d <= set(order))
        if not ready:
            raise ValueError(f"the task graph has a cycle among {sorted(deps)}")
        order.extend(ready)
        for n in ready:
            del deps[n]
    return order


def _parameter_value(ref: dict, pipeline_parameters: dict):
    if "componentInputParameter" in ref:
        return pipeline_parameters[ref["componentInputParameter"]]
    constant = ref.get("runtimeValue", {}).get("constant")
    if constant is not None:
        return constant
    value = ref["runtimeValue"]["constantValue"]
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    return float(value["doubleValue"])


def _legacy_value(value) -> dict:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return {"stringValue": value if isinstance(value, str) else json.dumps(value)}
    return {"intValue": str(value)} if isinstance(value, int) else {"doubleValue": value}


_CONDITION = re.compile(
    r"^\(?inputs\.artifacts\['(?P<key>[^']+)'\]\.artifacts\[0\]\.metadata\['(?P<prop>[^']+)'\]"
    r" == (?P<value>[-0-9.]+)\)?$"
)


def condition_holds(condition: str, inputs_artifacts: dict) -> bool:
    """Evaluate a compiled ``triggerPolicy`` condition of the form TFX's ``Cond`` compiles to.

    Only the comparison TFX emits for ``artifact.custom_property(name) == number`` is known;
    anything else raises rather than guess.
    """
    match = _CONDITION.match(condition.strip())
    if not match:
        raise ValueError(f"unsupported trigger condition: {condition}")
    artifact = inputs_artifacts[match["key"]]["artifacts"][0]
    return float(artifact["metadata"].get(match["prop"], "nan")) == float(match["value"])


def run_spec_locally(
    spec_path: str | Path,
    work_dir: str | Path,
    parameters: dict | None = None,
    env: dict | None = None,
    log=sys.stderr,
) -> LocalExecution:
    """Run every container task of the compiled spec; raise ``TaskFailed`` on the first failure."""
    job = json.loads(Path(spec_path).read_text())
    spec = job["pipelineSpec"]
    defaults = {
        name: p.get("defaultValue", "")
        for name, p in spec["root"].get("inputDefinitions", {}).get("parameters", {}).items()
    }
    runtime = job.get("runtimeConfig", {}).get("parameterValues", {})
    pipeline_parameters = {**defaults, **runtime, **(parameters or {})}
    tasks = spec["root"]["dag"]["tasks"]
    executors = spec["deploymentSpec"]["executors"]
    work = Path(work_dir)
    result = LocalExecution()
    for n, name in enumerate(task_order(tasks)):
        task = tasks[name]
        component = spec["components"][task["componentRef"]["name"]]
        executor = executors[component["executorLabel"]]
        if "container" not in executor:
            result.skipped.append(name)  # a resolver: nothing blessed yet, as on a first run
            continue
        inputs_artifacts = {}
        for key, ref in task.get("inputs", {}).get("artifacts", {}).items():
            producer = ref["taskOutputArtifact"]["producerTask"]
            produced = result.outputs.get(producer, {}).get(
                ref["taskOutputArtifact"]["outputArtifactKey"]
            )
            if produced is not None:
                inputs_artifacts[key] = {"artifacts": [produced]}
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition and not condition_holds(condition, inputs_artifacts):
            result.skipped.append(name)  # its condition is false (a night that doesn't train)
            continue
        params = {
            key: _parameter_value(ref, pipeline_parameters)
            for key, ref in task.get("inputs", {}).get("parameters", {}).items()
        }
        outputs = {}
        for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items():
            uri = work / name / key
            uri.mkdir(parents=True, exist_ok=True)
            outputs[key] = {
                "uri": str(uri),
                "name": f"local/artifacts/{name}/{key}",
                "type": definition["artifactType"],
                "metadata": {},
            }
        output_file = work / name / "executor_output.json"
        executor_input = {
            # both forms: ``parameters`` is what a launcher gives a schema-2.0.0 spec like TFX's
            "inputs": {
                "artifacts": inputs_artifacts,
                "parameterValues": params,
                "parameters": {k: _legacy_value(v) for k, v in params.items()},
            },
            "outputs": {
                "artifacts": {k: {"artifacts": [v]} for k, v in outputs.items()},
                "outputFile": str(output_file),
            },
        }
        container = executor["container"]
        command = list(container["command"])
        if command and command[0] == "python":
            command[0] = sys.executable
        args = [a.replace("{{$}}", json.dumps(executor_input)) for a in container.get("args", [])]
        log.write(f"[{n + 1:2d}/{len(tasks)}] {name} ...\n")
        started = time.monotonic()
        proc = subprocess.run(
            command + args, capture_output=True, text=True, env={**os.environ, **(env or {})}
        )
        result.seconds[name] = time.monotonic() - started
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
            raise TaskFailed(f"task {name} exited {proc.returncode}:\n{tail}")
        if output_file.exists():
            written = json.loads(output_file.read_text()).get("artifacts", {})
            for key, artifact_list in written.items():
                if key in outputs and artifact_list.get("artifacts"):
                    outputs[key]["metadata"] = artifact_list["artifacts"][0].get("metadata", {})
        result.outputs[name] = outputs
        result.order.append(name)
    return result
