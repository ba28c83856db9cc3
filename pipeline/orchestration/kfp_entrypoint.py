"""The component image's entrypoint on Kubeflow Pipelines' open-source backend (KFP 2.17).

A thin wrapper around TFX's ``kubeflow_v2_run_executor``: it takes the same arguments, adapts the
``ExecutorInput`` that the open-source driver and launcher pass (``{{$}}``) to what TFX 1.16's
entrypoint can read, runs TFX's own ``main``, gives the launcher its own artifact URIs back in the
output metadata file, and exits cleanly. Source references are to kubeflow/pipelines at 2.17.0
(commit 4a3592cb2dd0a91a4652ab93893ec8beda1f3158), paths under ``backend/src/``.

What it adapts:

* Parameters. Under schema 2.1.0 they arrive only as ``inputs.parameterValues``
  (v2/driver/resolve.go:139-142, 356). TFX 1.16 reads ``parameterValues`` only when the container
  has ``--json_serialized_inputs_spec_args`` (``parse_execution_properties`` in TFX's
  kubeflow_v2_entrypoint_utils), which its compiler adds with ``use_pipeline_spec_2_1=True``;
  without it TFX reads the deprecated ``parameters``, so they are filled from ``parameterValues``
  (see :func:`legacy_parameters`).
* ``executor-logs``: the driver adds this ``system.Artifact`` output to every container task when
  logs are published, the default (v2/driver/driver.go:755-768; ``--publish_logs`` defaults to
  "true", v2/cmd/driver/main.go:102). TFX would try to import a class named ``system.Artifact``;
  it is dropped. The launcher itself writes the task's stdout/stderr there
  (v2/component/launcher_v2.go:632-653, 700-711).
* Input artifact types. Input artifacts come back from ML Metadata with an empty
  ``instanceSchema`` (v2/metadata/client.go:253-258 with ``Schema: ""`` at client.go:1144), which
  TFX's ``_retrieve_class_path`` cannot parse. :func:`container_for` puts each input's schema title
  into the container's arguments at compile time; here each empty type is filled from it.
* Object storage. Artifact URIs keep the pipeline root's scheme (v2/driver/driver.go:775, 786 and
  v2/metadata/client.go:391-406, 420): ``minio://bucket/...`` on KFP's MinIO, ``s3://bucket/...``
  for an ``s3://`` root (``minio://`` is KFP's default root, v2/config/env.go:38, although 2.17
  serves it from SeaweedFS). TensorFlow has no ``minio`` file system: ``minio://`` becomes ``s3://``,
  TensorFlow's S3 file system (tensorflow-io) is registered and configured from the environment,
  and the output metadata file gets the launcher's URIs back, since the launcher merges each output
  by its key and takes a non-empty URI from the file (v2/component/launcher_v2.go:804-807,
  1188-1191) before uploading and recording it (launcher_v2.go:811-848).
* Artifact ids. TFX names the blessing's model ids after the ExecutorInput's artifacts only; an
  id from elsewhere keeps its number (see :func:`_name_unknown_ids`).
* Exit. After TFX's ``main`` returns and the output metadata file exists, stdout and stderr are
  flushed and the process ends with ``os._exit``: nothing runs at interpreter shutdown, where TFX's
  Beam and TensorFlow threads can crash a finished task. The launcher fails the task on a non-zero
  exit (launcher_v2.go:715-717) and otherwise reads the output file (launcher_v2.go:719, 1208-1237).

Importing this module is cheap (no TensorFlow, TFX or Beam import); ``container_for`` is called by
the compiler.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import traceback
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

TFX_ENTRYPOINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
ENTRYPOINT = "pipeline.orchestration.kfp_entrypoint"
INPUT_TYPES_FLAG = "--input_artifact_types"
INVOCATION_FLAG = "--json_serialized_invocation_args"
INPUTS_SPEC_FLAG = "--json_serialized_inputs_spec_args"
EXECUTOR_LOGS = "executor-logs"

S3_ENDPOINT = "S3_ENDPOINT"
S3_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
DEFAULT_REGION = "us-east-1"

_TITLE = re.compile(r"^title:\s*(\S+)\s*$", re.MULTILINE)


class EntrypointError(RuntimeError):
    """The ExecutorInput or the environment cannot be adapted for TFX; the message says why."""


def artifact_title(artifact_type: Mapping[str, Any]) -> str:
    """The schema title of a pipeline-spec ``ArtifactTypeSchema`` (``schemaTitle`` or the YAML)."""
    if artifact_type.get("schemaTitle"):
        return str(artifact_type["schemaTitle"])
    match = _TITLE.search(artifact_type.get("instanceSchema") or "")
    if not match:
        raise ValueError(f"artifact type without a schema title: {artifact_type}")
    return match.group(1)


def instance_schema(title: str) -> str:
    """The smallest instance schema TFX's entrypoint reads a type from: only its ``title``."""
    return f"title: {title}\ntype: object\n"


def _flag_value(args: Sequence[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg[len(flag) + 1 :]
    return None


def _without_flag(args: Sequence[str], flag: str) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == flag:
            skip = True
        elif not arg.startswith(flag + "="):
            kept.append(arg)
    return kept


def _with_flag(args: Sequence[str], flag: str, value: str) -> list[str]:
    """``args`` with ``flag``'s value replaced (both ``--flag value`` and ``--flag=value``)."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg == flag and i + 1 < len(out):
            out[i + 1] = value
            return out
        if arg.startswith(flag + "="):
            out[i] = f"{flag}={value}"
            return out
    raise EntrypointError(f"{flag} is missing from the arguments")


def container_for(container: dict, component: dict) -> dict:
    """The compiled TFX container, run through this entrypoint and told its inputs' types.

    ``container`` is a ``deploymentSpec.executors.<label>.container`` dict that TFX's compiler
    wrote (command ``python -m tfx...kubeflow_v2_run_executor``); ``component`` is its component's
    definition. The result runs ``python -m pipeline.orchestration.kfp_entrypoint`` with the same
    arguments plus ``--input_artifact_types <json>``, a flat JSON object from each input artifact
    key to its schema title (``{"examples":"tfx.Examples","schema":"tfx.Schema"}``, keys sorted,
    no spaces; ``{}`` without inputs). Flat, so the argument holds neither ``{{`` nor ``}}``, which
    Argo and the launcher treat as placeholders. Applying it again gives the same container.
    """
    command = list(container.get("command", []))
    if command[-2:] not in (["-m", TFX_ENTRYPOINT], ["-m", ENTRYPOINT]):
        raise ValueError(
            f"container_for wraps TFX's {TFX_ENTRYPOINT}; this container runs {command}"
        )
    types = {
        key: artifact_title(definition["artifactType"])
        for key, definition in component.get("inputDefinitions", {}).get("artifacts", {}).items()
    }
    wrapped = copy.deepcopy(container)
    wrapped["command"] = [*command[:-2], "-m", ENTRYPOINT]
    wrapped["args"] = [
        *_without_flag(container.get("args", []), INPUT_TYPES_FLAG),
        INPUT_TYPES_FLAG,
        json.dumps(types, sort_keys=True, separators=(",", ":")),
    ]
    return wrapped


def legacy_parameters(parameter_values: Mapping[str, Any]) -> dict[str, dict]:
    """Schema-2.0.0 ``parameters`` (kfp ``Value``) for ``parameterValues`` (protobuf ``Value``).

    Only for a container compiled without ``--json_serialized_inputs_spec_args``: without the
    parameter types a whole number becomes ``intValue`` and any other number ``doubleValue``;
    lists and structs become JSON strings, as TFX serializes them.
    """
    out: dict[str, dict] = {}
    for key, value in parameter_values.items():
        if value is None:
            continue  # an optional parameter left null (v2/driver/resolve.go:315-318)
        if isinstance(value, bool):
            out[key] = {"intValue": str(int(value))}
        elif isinstance(value, int | float):
            if float(value).is_integer():
                out[key] = {"intValue": str(int(value))}
            else:
                out[key] = {"doubleValue": float(value)}
        elif isinstance(value, str):
            out[key] = {"stringValue": value}
        else:
            out[key] = {"stringValue": json.dumps(value)}
    return out


def _fill_types(artifacts: Mapping[str, Any], titles: Mapping[str, str], side: str) -> None:
    for key, artifact_list in artifacts.items():
        for artifact in artifact_list.get("artifacts", []):
            kind = artifact.get("type") or {}
            if kind.get("schemaTitle") or kind.get("instanceSchema"):
                continue
            if key not in titles:
                raise EntrypointError(
                    f"{side} artifact {key!r} arrived without a type and the container does not "
                    f"name one (compile with container_for: {INPUT_TYPES_FLAG})"
                )
            artifact["type"] = {"instanceSchema": instance_schema(titles[key])}


def _minio_to_s3(uri: str) -> str:
    return "s3://" + uri[len("minio://") :] if uri.startswith("minio://") else uri


def prepare_executor_input(
    executor_input: Mapping[str, Any],
    input_types: Mapping[str, str],
    has_inputs_spec: bool,
    inputs_spec: Mapping[str, Any] | None = None,
) -> tuple[dict, dict[str, str]]:
    """The ExecutorInput TFX's entrypoint can read, and the URIs it renamed (new -> launcher's).

    ``input_types`` maps input keys to schema titles (:func:`container_for`'s argument); when a key
    is missing there, the title comes from ``inputs_spec`` (TFX's own
    ``--json_serialized_inputs_spec_args``). Nothing else in the ExecutorInput changes.
    """
    prepared = copy.deepcopy(dict(executor_input))
    inputs = prepared.setdefault("inputs", {})
    outputs = prepared.setdefault("outputs", {})
    outputs.get("artifacts", {}).pop(EXECUTOR_LOGS, None)
    titles = dict(input_types)
    for key, definition in (inputs_spec or {}).get("artifacts", {}).items():
        if key not in titles and definition.get("artifactType"):
            titles[key] = artifact_title(definition["artifactType"])
    _fill_types(inputs.get("artifacts", {}), titles, "input")
    _fill_types(outputs.get("artifacts", {}), {}, "output")
    if not has_inputs_spec and inputs.get("parameterValues") and not inputs.get("parameters"):
        inputs["parameters"] = legacy_parameters(inputs["parameterValues"])
    renamed: dict[str, str] = {}
    for side in (inputs, outputs):
        for artifact_list in side.get("artifacts", {}).values():
            for artifact in artifact_list.get("artifacts", []):
                uri = artifact.get("uri", "")
                if uri.startswith("minio://"):
                    artifact["uri"] = _minio_to_s3(uri)
                    renamed[artifact["uri"]] = uri
    return prepared, renamed


def restore_output_uris(output_file: str | Path, renamed: Mapping[str, str]) -> None:
    """Put the launcher's own URIs back into the executor's output metadata file.

    The launcher matches outputs by key and copies a non-empty ``uri`` from this file onto the
    artifact it uploads and records (v2/component/launcher_v2.go:804-807, 1188-1191), so a
    ``minio://`` URI seen by TFX as ``s3://`` must read ``minio://`` again here.
    """
    if not renamed:
        return
    path = Path(output_file)
    output = json.loads(path.read_text())
    for artifact_list in output.get("artifacts", {}).values():
        for artifact in artifact_list.get("artifacts", []):
            uri = artifact.get("uri", "")
            if uri in renamed:
                artifact["uri"] = renamed[uri]
            elif uri.startswith("s3://"):
                artifact["uri"] = "minio://" + uri[len("s3://") :]
    path.write_text(json.dumps(output))


def needs_s3(text: str) -> bool:
    """Whether an ExecutorInput (as JSON text) names anything in S3 or MinIO."""
    return "s3://" in text or "minio://" in text


def s3_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables TensorFlow's S3 file system (tensorflow-io) needs, from ``environ``.

    ``S3_ENDPOINT`` is required (KFP 2.17's bundled store is SeaweedFS,
    ``seaweedfs.kubeflow:9000``: manifests/kustomize/base/pipeline/
    ml-pipeline-apiserver-deployment.yaml:139-142 and v2/objectstore/config.go:29; older installs
    run MinIO at ``minio-service.kubeflow:9000``); so are ``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY`` (from the pod's secret, never from here).
    tensorflow-io hands ``S3_ENDPOINT`` to the AWS SDK's ``OverrideEndpoint``, which takes the
    scheme from the endpoint itself (it does not read ``S3_USE_HTTPS``): an endpoint without one
    gets ``http://`` unless ``S3_USE_HTTPS=1``. Defaults: ``S3_USE_HTTPS=0``, ``S3_VERIFY_SSL=0``,
    ``AWS_REGION=us-east-1``. Raises ``EntrypointError`` naming each missing variable.
    """
    missing = [name for name in (S3_ENDPOINT, *S3_CREDENTIALS) if not environ.get(name)]
    if missing:
        raise EntrypointError(
            "this task reads or writes s3:// (or minio://) paths, but "
            + ", ".join(missing)
            + " "
            + ("is" if len(missing) == 1 else "are")
            + " not set: set S3_ENDPOINT to the object store (KFP 2.17's seaweedfs.kubeflow:9000, "
            "or minio-service.kubeflow:9000 on older installs) and the credentials from its "
            "secret (mlpipeline-minio-artifact: accesskey, secretkey)"
        )
    endpoint = environ[S3_ENDPOINT]
    use_https = environ.get("S3_USE_HTTPS", "0")
    if "://" in endpoint:
        use_https = "1" if endpoint.startswith("https://") else "0"
    else:
        endpoint = ("https://" if use_https == "1" else "http://") + endpoint
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    return {
        S3_ENDPOINT: endpoint,
        # boto3 (Beam's S3 file system) when no pipeline options name one: Beam file operations
        # an executor makes before or outside a Beam pipeline (the span store's index entries)
        "AWS_ENDPOINT_URL_S3": endpoint,
        "S3_USE_HTTPS": use_https,
        "S3_VERIFY_SSL": environ.get("S3_VERIFY_SSL", "0"),
        "AWS_REGION": region,
    }


def beam_s3_args(s3_env: Mapping[str, str], args: Sequence[str]) -> list[str]:
    """Beam's S3 options for the same endpoint, unless ``args`` already set them.

    Credentials stay in the environment (boto3 reads ``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY`` itself) so they never appear on a command line. No ``--s3_verify``:
    Beam hands its string to boto3, which would take "false" for a CA bundle path; an ``http://``
    endpoint is not verified anyway. Beam's S3 file system needs boto3.
    """
    wanted = {
        "--s3_endpoint_url": s3_env[S3_ENDPOINT],
        "--s3_region_name": s3_env["AWS_REGION"],
    }
    present = {a.split("=", 1)[0] for a in args if a.startswith("--")}
    return [f"{k}={v}" for k, v in wanted.items() if k not in present]


def configure_s3(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set TensorFlow's S3 variables in ``environ`` and register its ``s3`` file system.

    Imports ``tensorflow_io``, after which ``tf.io.gfile`` knows ``s3://``. Returns the variables
    set. Raises ``EntrypointError`` when the endpoint or the credentials are missing.
    """
    values = s3_environment(environ)
    environ.update(values)
    import tensorflow_io  # noqa: F401  (registers s3, and more, with tf.io.gfile)

    return values


def _name_unknown_ids(utils: Any) -> None:
    """Let TFX name an artifact id it has not seen in this ExecutorInput by the id itself.

    After an Evaluator ran, TFX's entrypoint renames the blessing's ``current_model_id`` and
    ``baseline_model_id`` from TFX's int ids back to the runtime artifact names
    (``refactor_model_blessing``), looking each id up among the ExecutorInput's artifacts only; a
    baseline the executor found elsewhere (cyclecast's Evaluator takes it from the push record)
    raised ``KeyError`` after the blessing was written, failing every night after the first.
    """
    original = utils._get_full_name
    if getattr(original, "_kfp_entrypoint", False):
        return

    def full_name(artifact_id: int, name_from_id: Mapping[int, str]) -> str:
        return name_from_id.get(artifact_id, str(artifact_id))

    full_name._kfp_entrypoint = True  # type: ignore[attr-defined]
    utils._get_full_name = full_name


def run(argv: Sequence[str]) -> int:
    """Adapt the ExecutorInput in ``argv`` (arguments without the program), run TFX, return a code.

    0 when TFX's ``main`` returned and wrote the output metadata file; 1 otherwise (the
    traceback or the reason is on stderr).
    """
    args = list(argv)
    input_types = json.loads(_flag_value(args, INPUT_TYPES_FLAG) or "{}")
    args = _without_flag(args, INPUT_TYPES_FLAG)
    invocation = _flag_value(args, INVOCATION_FLAG)
    if invocation is None:
        raise EntrypointError(f"{INVOCATION_FLAG} is required")
    spec_text = _flag_value(args, INPUTS_SPEC_FLAG)
    prepared, renamed = prepare_executor_input(
        json.loads(invocation),
        input_types,
        has_inputs_spec=bool(spec_text),
        inputs_spec=json.loads(spec_text) if spec_text else None,
    )
    args = _with_flag(args, INVOCATION_FLAG, json.dumps(prepared))
    if needs_s3(invocation) or os.environ.get(S3_ENDPOINT):
        args += beam_s3_args(configure_s3(os.environ), args)
    output_file = prepared.get("outputs", {}).get("outputFile", "")

    from absl import app
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as utils
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as tfx_entry

    _name_unknown_ids(utils)
    try:
        app.run(tfx_entry.main, argv=[sys.argv[0], *args], flags_parser=tfx_entry._parse_flags)
    except SystemExit as stop:  # absl's app.run always ends in sys.exit
        if stop.code not in (None, 0):
            print(f"kfp_entrypoint: TFX's entrypoint exited {stop.code}", file=sys.stderr)
            return 1
    if not output_file or not Path(output_file).is_file():
        print(
            f"kfp_entrypoint: TFX's entrypoint wrote no output metadata file ({output_file!r})",
            file=sys.stderr,
        )
        return 1
    restore_output_uris(output_file, renamed)
    return 0


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run :func:`run` on ``argv`` (default ``sys.argv[1:]``), flush, and ``os._exit`` its code."""
    try:
        code = run(sys.argv[1:] if argv is None else argv)
    except BaseException:  # noqa: BLE001  (any failure is reported and becomes exit 1)
        traceback.print_exc()
        code = 1
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
