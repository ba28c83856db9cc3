"""The component entrypoint adapts what KFP 2.17's open-source driver and launcher pass to TFX.

Fixtures are ExecutorInputs shaped as the 2.17 driver builds them; line references are to
kubeflow/pipelines at 4a3592cb2dd0a91a4652ab93893ec8beda1f3158, under ``backend/src/``. One test
runs a real (tiny) TFX executor through the entrypoint in a subprocess (about 15 seconds: TFX's
entrypoint imports TensorFlow); the others need neither TensorFlow nor TFX.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import REPO_ROOT
from pipeline.orchestration.kfp_entrypoint import (
    ENTRYPOINT,
    INPUT_TYPES_FLAG,
    TFX_ENTRYPOINT,
    EntrypointError,
    beam_s3_args,
    container_for,
    legacy_parameters,
    prepare_executor_input,
    restore_output_uris,
    s3_environment,
)

EXAMPLES_SCHEMA = (
    "title: tfx.Examples\ntype: object\nproperties:\n  span:\n    type: integer\n"
    "    description: Span for an artifact.\n"
)
MODEL_SCHEMA = "title: tfx.Model\ntype: object\n"
TASK_ROOT = "minio://mlpipeline/v2/artifacts/cyclecast/6f1c0c0e-run/Trainer/0b6c4a2e-uuid"
SESSION = (
    '{"Provider":"minio","Params":{"accessKeyKey":"accesskey","disableSSL":"true",'
    '"endpoint":"seaweedfs.kubeflow:9000","fromEnv":"false","maxRetries":"5","region":"minio",'
    '"secretKeyKey":"secretkey","secretName":"mlpipeline-minio-artifact"}}'
)

# The ExecutorInput (protojson) the 2.17 driver and launcher hand a TFX task on KFP's default
# root, minio://mlpipeline/v2/artifacts (v2/config/env.go:38):
# - inputs.parameterValues only, no deprecated ``parameters`` (v2/driver/resolve.go:139-142, 356);
#   STRING-typed values as strings (resolve.go:202-217)
# - an input artifact as ML Metadata returns it: ``name`` is the artifact id
#   (v2/metadata/converter.go:186-192), metadata are its custom properties with numbers as doubles
#   (converter.go:194-218), including ``display_name`` and ``store_session_info`` that the launcher
#   recorded (v2/metadata/client.go:1234-1250; the session from v2/config/env.go:177-191), and the
#   type is an empty instanceSchema (client.go:253-258, with Schema "" at client.go:1144)
# - outputs: ``name`` is the output key, the URI is <root>/<pipeline>/<run>/<task>/<uuid>/<key>
#   (client.go:420, v2/driver/driver.go:775, 778-792), the type is the component's output type
#   (driver.go:787), plus ``executor-logs`` (driver.go:755-768), whose URI the launcher suffixes
#   with the retry index (v2/component/launcher_v2.go:420, 538-567)
# - outputFile: the task root's local path + output_metadata.json (driver.go:800-807 with
#   LocalPathForURI, launcher_v2.go:1239-1245)
DRIVER_EXECUTOR_INPUT = {
    "inputs": {
        "parameterValues": {
            "train_args": '{\n  "num_steps": 50\n}',
            "run_fn": "components.trainer.model.run_fn",
        },
        "artifacts": {
            "examples": {
                "artifacts": [
                    {
                        "name": "41",
                        "uri": "minio://mlpipeline/v2/artifacts/cyclecast/6f1c0c0e-run/"
                        "Transform/5d2e-uuid/transformed_examples",
                        "type": {"instanceSchema": ""},
                        "metadata": {
                            "display_name": "transformed_examples",
                            "split_names": '["train", "eval"]',
                            "span": 20260110.0,
                            "store_session_info": SESSION,
                            "tfx_version": "1.16.0",
                        },
                    }
                ]
            }
        },
    },
    "outputs": {
        "artifacts": {
            "model": {
                "artifacts": [
                    {
                        "name": "model",
                        "uri": f"{TASK_ROOT}/model",
                        "type": {"instanceSchema": MODEL_SCHEMA},
                    }
                ]
            },
            "executor-logs": {
                "artifacts": [
                    {
                        "name": "executor-logs",
                        "uri": f"{TASK_ROOT}/executor-logs-0",
                        "type": {"schemaTitle": "system.Artifact"},
                    }
                ]
            },
        },
        "outputFile": "/minio/mlpipeline/v2/artifacts/cyclecast/6f1c0c0e-run/Trainer/"
        "0b6c4a2e-uuid/output_metadata.json",
    },
}

# What TFX 1.16's compiler writes for a component with use_pipeline_spec_2_1=True
# (tfx/orchestration/kubeflow/v2/step_builder.py, _build_container_spec).
TRAINER_COMPONENT = {
    "executorLabel": "Trainer_executor",
    "inputDefinitions": {
        "artifacts": {
            "examples": {"artifactType": {"instanceSchema": EXAMPLES_SCHEMA}},
            "_TrainingWindow.window": {"artifactType": {"instanceSchema": EXAMPLES_SCHEMA}},
        },
        "parameters": {"train_args": {"parameterType": "STRING"}},
    },
    "outputDefinitions": {"artifacts": {"model": {"artifactType": {"schemaTitle": "tfx.Model"}}}},
}
INPUTS_SPEC = json.dumps(TRAINER_COMPONENT["inputDefinitions"], indent=2, sort_keys=True)
TRAINER_CONTAINER = {
    "image": "cyclecast/pipeline:0.1.0",
    "command": ["python", "-m", TFX_ENTRYPOINT],
    "args": [
        "--executor_class_path",
        "tfx.components.trainer.executor.GenericExecutor",
        "--json_serialized_invocation_args",
        "{{$}}",
        "--json_serialized_inputs_spec_args",
        INPUTS_SPEC,
        "--runner=DirectRunner",
    ],
}


def test_container_for_runs_the_entrypoint_and_names_each_inputs_type():
    wrapped = container_for(TRAINER_CONTAINER, TRAINER_COMPONENT)
    assert wrapped["command"] == ["python", "-m", ENTRYPOINT]
    assert wrapped["args"] == [
        *TRAINER_CONTAINER["args"],
        INPUT_TYPES_FLAG,
        '{"_TrainingWindow.window":"tfx.Examples","examples":"tfx.Examples"}',
    ]
    assert "{{" not in wrapped["args"][-1] and "}}" not in wrapped["args"][-1]
    assert wrapped["image"] == TRAINER_CONTAINER["image"]
    assert TRAINER_CONTAINER["command"][-1] == TFX_ENTRYPOINT  # the input is not changed
    assert container_for(wrapped, TRAINER_COMPONENT) == wrapped
    no_inputs = container_for(TRAINER_CONTAINER, {"executorLabel": "x"})
    assert no_inputs["args"][-2:] == [INPUT_TYPES_FLAG, "{}"]
    with pytest.raises(ValueError, match="wraps TFX's"):
        container_for({"command": ["sh", "-c", "true"]}, TRAINER_COMPONENT)


def test_the_tfx_facing_input_has_types_s3_uris_and_no_executor_logs():
    types = {"examples": "tfx.Examples"}
    prepared, renamed = prepare_executor_input(DRIVER_EXECUTOR_INPUT, types, has_inputs_spec=True)

    expected = copy.deepcopy(DRIVER_EXECUTOR_INPUT)
    examples = expected["inputs"]["artifacts"]["examples"]["artifacts"][0]
    examples["type"] = {"instanceSchema": "title: tfx.Examples\ntype: object\n"}
    examples["uri"] = examples["uri"].replace("minio://", "s3://")
    del expected["outputs"]["artifacts"]["executor-logs"]
    model = expected["outputs"]["artifacts"]["model"]["artifacts"][0]
    model["uri"] = model["uri"].replace("minio://", "s3://")
    assert prepared == expected  # parameters untouched: TFX reads parameterValues with the spec
    assert renamed == {
        model["uri"]: f"{TASK_ROOT}/model",
        examples["uri"]: DRIVER_EXECUTOR_INPUT["inputs"]["artifacts"]["examples"]["artifacts"][0][
            "uri"
        ],
    }
    assert "executor-logs" in DRIVER_EXECUTOR_INPUT["outputs"]["artifacts"]  # a copy was changed


def test_an_inputs_type_comes_from_tfxs_inputs_spec_when_the_flag_lacks_it():
    spec = json.loads(INPUTS_SPEC)
    prepared, _ = prepare_executor_input(DRIVER_EXECUTOR_INPUT, {}, True, inputs_spec=spec)
    (examples,) = prepared["inputs"]["artifacts"]["examples"]["artifacts"]
    assert examples["type"] == {"instanceSchema": "title: tfx.Examples\ntype: object\n"}
    with pytest.raises(EntrypointError, match="input artifact 'examples' arrived without a type"):
        prepare_executor_input(DRIVER_EXECUTOR_INPUT, {}, has_inputs_spec=False)


def test_without_tfxs_inputs_spec_parameters_are_also_given_in_the_legacy_form():
    executor_input = copy.deepcopy(DRIVER_EXECUTOR_INPUT)
    executor_input["inputs"]["parameterValues"].update(
        {"steps": 50, "rate": 0.5, "flag": True, "tags": ["a"], "unset": None}
    )
    prepared, _ = prepare_executor_input(executor_input, {"examples": "tfx.Examples"}, False)
    assert prepared["inputs"]["parameters"] == {
        "train_args": {"stringValue": '{\n  "num_steps": 50\n}'},
        "run_fn": {"stringValue": "components.trainer.model.run_fn"},
        "steps": {"intValue": "50"},
        "rate": {"doubleValue": 0.5},
        "flag": {"intValue": "1"},
        "tags": {"stringValue": '["a"]'},
    }
    assert legacy_parameters({}) == {}


def test_the_launcher_gets_its_own_uris_back_in_the_output_metadata(tmp_path):
    _, renamed = prepare_executor_input(DRIVER_EXECUTOR_INPUT, {"examples": "tfx.Examples"}, True)
    output_file = tmp_path / "output_metadata.json"
    s3_model = f"{TASK_ROOT}/model".replace("minio://", "s3://")
    output_file.write_text(
        json.dumps(
            {"artifacts": {"model": {"artifacts": [{"uri": s3_model, "metadata": {"a": 1.0}}]}}}
        )
    )
    restore_output_uris(output_file, renamed)
    written = json.loads(output_file.read_text())
    # the launcher merges by key and takes a non-empty uri (launcher_v2.go:804-807, 1188-1191)
    assert written["artifacts"]["model"]["artifacts"][0] == {
        "uri": f"{TASK_ROOT}/model",
        "metadata": {"a": 1.0},
    }


def test_s3_needs_an_endpoint_and_credentials_and_gets_an_http_scheme():
    with pytest.raises(EntrypointError, match=r"S3_ENDPOINT is not set") as error:
        s3_environment({"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
    assert "seaweedfs.kubeflow:9000" in str(error.value)
    with pytest.raises(EntrypointError, match=r"AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY are"):
        s3_environment({"S3_ENDPOINT": "seaweedfs.kubeflow:9000"})
    credentials = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    assert s3_environment({"S3_ENDPOINT": "seaweedfs.kubeflow:9000", **credentials}) == {
        "S3_ENDPOINT": "http://seaweedfs.kubeflow:9000",
        "AWS_ENDPOINT_URL_S3": "http://seaweedfs.kubeflow:9000",
        "S3_USE_HTTPS": "0",
        "S3_VERIFY_SSL": "0",
        "AWS_REGION": "us-east-1",
    }
    secure = s3_environment(
        {"S3_ENDPOINT": "https://s3.example", "AWS_REGION": "eu-west-1", **credentials}
    )
    assert secure["S3_ENDPOINT"] == "https://s3.example" and secure["S3_USE_HTTPS"] == "1"
    assert secure["AWS_REGION"] == "eu-west-1"
    # Beam gets the endpoint, never the credentials; a value already given is kept
    args = ["--runner=DirectRunner", "--s3_region_name=minio"]
    assert beam_s3_args(secure, args) == ["--s3_endpoint_url=https://s3.example"]


def test_a_failure_before_tfx_exits_non_zero_naming_the_cause():
    proc = subprocess.run(
        [sys.executable, "-m", ENTRYPOINT, "--executor_class_path", "x.Y"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "--json_serialized_invocation_args is required" in proc.stderr


def __getattr__(name: str):
    """``RecordingExecutor``, a tiny TFX executor, built on first use (TFX is not imported here)."""
    if name != "RecordingExecutor":
        raise AttributeError(name)
    import atexit

    import tensorflow as tf
    from tfx.components.evaluator import executor as evaluator

    class RecordingExecutor(evaluator.Executor):
        """Records what TFX handed it, writes a blessing, and crashes at interpreter shutdown.

        An Evaluator to TFX's entrypoint, which renames the blessing's model ids afterwards.
        """

        def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802 (TFX's name)
            atexit.register(os.abort)  # as TFX's threads can: only os._exit avoids it
            model = output_dict["blessing"][0]
            os.makedirs(model.uri, exist_ok=True)
            seen = {
                "inputs": {
                    k: [[type(a).__name__, a.uri] for a in v] for k, v in input_dict.items()
                },
                "outputs": sorted(output_dict),
                "exec": {k: [type(v).__name__, v] for k, v in exec_properties.items()},
                "s3_registered": "s3" in tf.io.gfile.get_registered_schemes(),
                "S3_ENDPOINT": os.environ.get("S3_ENDPOINT"),
            }
            with open(os.path.join(model.uri, "seen.json"), "w") as f:
                json.dump(seen, f)
            model.set_int_custom_property("train", 1)
            model.set_int_custom_property("current_model_id", input_dict["examples"][0].id)
            model.set_int_custom_property("baseline_model_id", 12345)  # not in this input

    RecordingExecutor.__module__ = __name__
    RecordingExecutor.__qualname__ = "RecordingExecutor"
    return RecordingExecutor


def test_a_tfx_executor_runs_through_the_entrypoint_under_the_backend_stand_in(tmp_path):
    """The stand-in builds the ExecutorInput as the driver does; TFX runs and the task exits 0.

    The input comes from an importer on KFP's default ``minio://`` root, so it reaches TFX with an
    empty instanceSchema and a URI TensorFlow cannot open until the entrypoint rewrites it.
    """
    from pipeline.orchestration.kfp_local import run_spec_locally

    component = {
        "executorLabel": "Record_executor",
        "inputDefinitions": {
            "artifacts": {"examples": {"artifactType": {"instanceSchema": EXAMPLES_SCHEMA}}},
            "parameters": {
                "steps": {"parameterType": "NUMBER_INTEGER"},
                "run_fn": {"parameterType": "STRING"},
            },
        },
        "outputDefinitions": {
            "artifacts": {"blessing": {"artifactType": {"schemaTitle": "tfx.ModelBlessing"}}}
        },
    }
    tfx_container = {
        "image": "cyclecast/pipeline:test",
        "command": ["python", "-m", TFX_ENTRYPOINT],
        "args": [
            "--executor_class_path",
            f"{__name__}.RecordingExecutor",
            "--json_serialized_invocation_args",
            "{{$}}",
            "--json_serialized_inputs_spec_args",
            json.dumps(component["inputDefinitions"], indent=2, sort_keys=True),
            "--runner=DirectRunner",
        ],
    }
    importer = {
        "artifactUri": {"constant": "minio://mlpipeline/v2/artifacts/examples"},
        "typeSchema": {"instanceSchema": EXAMPLES_SCHEMA},
    }
    spec = {
        "schemaVersion": "2.1.0",
        "pipelineInfo": {"name": "tiny"},
        "root": {
            "dag": {
                "tasks": {
                    "examples_importer": {
                        "taskInfo": {"name": "examples_importer"},
                        "componentRef": {"name": "Importer"},
                    },
                    "Record": {
                        "taskInfo": {"name": "Record"},
                        "componentRef": {"name": "Record"},
                        "inputs": {
                            "artifacts": {
                                "examples": {
                                    "taskOutputArtifact": {
                                        "producerTask": "examples_importer",
                                        "outputArtifactKey": "result",
                                    }
                                }
                            },
                            "parameters": {
                                "steps": {"runtimeValue": {"constant": 50}},
                                "run_fn": {"runtimeValue": {"constant": "m.run_fn"}},
                            },
                        },
                    },
                }
            }
        },
        "components": {
            "Importer": {
                "executorLabel": "Importer_executor",
                "outputDefinitions": {
                    "artifacts": {"result": {"artifactType": {"instanceSchema": EXAMPLES_SCHEMA}}}
                },
            },
            "Record": component,
        },
        "deploymentSpec": {
            "executors": {
                "Importer_executor": {"importer": importer},
                "Record_executor": {"container": container_for(tfx_container, component)},
            }
        },
    }
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({"pipelineSpec": spec}))
    env = {
        "PYTHONPATH": str(REPO_ROOT),
        "S3_ENDPOINT": "seaweedfs.kubeflow:9000",
        "AWS_ACCESS_KEY_ID": "test-access-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret-key",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }

    result = run_spec_locally(spec_file, tmp_path / "root", env=env, log=io.StringIO())

    # exit 0 although the executor registered an abort for interpreter shutdown; the stand-in
    # read the output metadata file back
    assert result.order == ["examples_importer", "Record"]
    model = result.outputs["Record"]["blessing"]
    assert model["metadata"]["train"] == 1.0
    # the model ids as runtime artifact names: the input's MLMD id, and an unknown id kept
    assert model["metadata"]["current_model_id"] == "1"
    assert model["metadata"]["baseline_model_id"] == "12345"
    seen = json.loads(Path(model["uri"], "seen.json").read_text())
    assert seen == {
        # the empty instanceSchema became tfx.Examples; minio:// became s3://
        "inputs": {"examples": [["Examples", "s3://mlpipeline/v2/artifacts/examples"]]},
        "outputs": ["blessing"],  # no executor-logs
        # parameterValues, cast by the inputs spec TFX's compiler adds under schema 2.1.0
        "exec": {"steps": ["int", 50], "run_fn": ["str", "m.run_fn"]},
        "s3_registered": True,
        "S3_ENDPOINT": "http://seaweedfs.kubeflow:9000",
    }
    logs = result.executor_inputs["Record"]["outputs"]["artifacts"]["executor-logs"]
    assert "Starting executor" in Path(logs["artifacts"][0]["uri"]).read_text()
