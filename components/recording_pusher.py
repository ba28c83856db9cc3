"""TFX's Pusher, which also records each push beside the serving directory.

The executor is TFX's own; after a push it writes the push record (``components.push_records``)
naming the TF Serving version and the Trainer model it came from, so the next training night's
Evaluator finds its blessed baseline on any orchestrator. A model that is not blessed is not
pushed and leaves no record.
"""

from __future__ import annotations

from typing import Any

from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.push_records import PushRecord, write_push_record

# TFX's Pusher marks its PushedModel output with these (tfx/components/pusher/executor.py).
PUSHED_PROPERTY = "pushed"
PUSHED_VERSION_PROPERTY = "pushed_version"


class Executor(pusher_executor.Executor):
    """TFX's Pusher executor, plus a push record after every push to a file system."""

    def Do(  # noqa: N802 (TFX's executor interface)
        self,
        input_dict: dict[str, list],
        output_dict: dict[str, list],
        exec_properties: dict[str, Any],
    ) -> None:
        """Push as TFX does; when a version was written, record it and its Trainer model."""
        super().Do(input_dict, output_dict, exec_properties)
        pushed = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if pushed.get_int_custom_property(PUSHED_PROPERTY) != 1:
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
        write_push_record(
            destination.filesystem.base_directory,
            PushRecord(
                version=pushed.get_string_custom_property(PUSHED_VERSION_PROPERTY),
                model_uri=model.uri,
                model_id=int(model.id or 0),
            ),
        )


class Pusher(pusher_component.Pusher):
    """TFX's Pusher with the recording executor (named ``Pusher``, as summaries look it up)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
