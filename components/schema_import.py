"""ImportSchemaGen whose cache key holds the schema's content, not only its path.

TFX's ImportSchemaGen has one execution property, the schema file's path, so editing
``schema/schema.pbtxt`` in place left the cache key unchanged: the old schema was served from cache,
and with it every downstream step (validation, Transform, training). This subclass adds the
content fingerprint as a second execution property. Execution properties are part of the local
runner's cache key and are compiled into the Kubeflow spec, whose cache key is the spec: one
property covers both orchestrators. TFX's own executor runs unchanged (it reads only the path).
"""

from __future__ import annotations

from tfx import types
from tfx.components.schema_gen.import_schema_gen import executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

SCHEMA_FINGERPRINT_KEY = "schema_fingerprint"


class ImportSchemaGenSpec(standard_component_specs.ImportSchemaGenSpec):
    """TFX's ImportSchemaGen spec plus the schema's content fingerprint."""

    PARAMETERS = {
        **standard_component_specs.ImportSchemaGenSpec.PARAMETERS,
        SCHEMA_FINGERPRINT_KEY: ExecutionParameter(type=str),
    }


# Named like TFX's component so the node id (and the run history keyed on it) stays ImportSchemaGen.
class ImportSchemaGen(base_component.BaseComponent):
    """Import a schema file; a change to its content (``schema_fingerprint``) re-runs it."""

    SPEC_CLASS = ImportSchemaGenSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, schema_file: str, schema_fingerprint: str):
        """Import ``schema_file``, keyed on ``schema_fingerprint`` (pipeline.code_version)."""
        spec = ImportSchemaGenSpec(
            schema_file=schema_file,
            schema_fingerprint=schema_fingerprint,
            schema=types.Channel(type=standard_artifacts.Schema),
        )
        super().__init__(spec=spec)
