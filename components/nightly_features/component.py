"""NightlyFeatureGen: the TFX ExampleGen over raw recordings, ingesting one night (span) a run.

Inputs are files, not artifacts, so like TFX's file-based ExampleGens it uses the file-based driver
to resolve the span (the newest night folder, or ``--night``) and fingerprint the span's raw files;
this driver adds the lateness horizon's nights and the cycle log to the fingerprint, so a late
upload or a changed cycle log is not served from cache. The executor plans the ingest against the
span store (``spans.plan.plan_ingest``: the new night, and any late, re-sent or never-ingested
night), runs the same Beam transforms as ``cyclecast backfill`` on those nights' raw files only, and
writes two artifacts: the examples per split, and the quarantine (rejected rows, files and
cycle-log lines, the night ledger, the nights' statistics, the plan and the summary). Each
ingested night is then committed to the span store, where later runs find it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from typing import Any

from tfx import types
from tfx.components.example_gen import driver as example_gen_driver
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.components.base import base_beam_component, base_beam_executor, executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import io_utils, proto_utils

from components import defaults
from components.artifact_properties import (
    FIRST_NIGHT_PROPERTY,
    LAST_NIGHT_PROPERTY,
    NIGHTS_INGESTED_PROPERTY,
)
from components.artifacts import NightlyQuarantine
from components.nightly_features.beam_job import (
    DEFAULT_SPLITS,
    FeatureJobConfig,
    RawRecordingsToExamples,
)
from components.nightly_features.feature_outputs import WriteFeatureOutputs
from components.nightly_features.ingest import ingest
from components.nightly_features.salt import load_salt
from components.quarantine_layout import SUMMARY_FILE
from components.spans.dates import night_of, parse_night, span_of
from components.spans.plan import night_fingerprint, plan_ingest, retry_marker
from components.spans.store import REQUESTS_SPLIT, SpanStore
from components.spans.writer_lock import store_writer
from transforms import raw_format as rf
from transforms.night_ranges import night_ranges

QUARANTINE_KEY = "quarantine"
REQUESTS_KEY = "requests"
SALT_FILE_KEY = "salt_file"
CODE_VERSION_KEY = "code_version"
WINDOW_NIGHTS_KEY = "window_nights"
SPAN_STORE_KEY = "span_store"
LATE_NIGHTS_KEY = "late_nights"
SCHEMA_FILE_KEY = "schema_file"
SCHEMA_FINGERPRINT_KEY = "schema_fingerprint"
ONLINE_STORE_KEY = "online_store"


class NightlyFeatureGenSpec(ComponentSpec):
    """Parameters and outputs of NightlyFeatureGen."""

    PARAMETERS = {
        standard_component_specs.INPUT_BASE_KEY: ExecutionParameter(type=str),
        standard_component_specs.INPUT_CONFIG_KEY: ExecutionParameter(type=example_gen_pb2.Input),
        standard_component_specs.OUTPUT_CONFIG_KEY: ExecutionParameter(type=example_gen_pb2.Output),
        standard_component_specs.RANGE_CONFIG_KEY: ExecutionParameter(
            type=range_config_pb2.RangeConfig, optional=True
        ),
        SALT_FILE_KEY: ExecutionParameter(type=str, optional=True),
        # A fingerprint of the feature code: part of the cache key, so new code re-processes.
        CODE_VERSION_KEY: ExecutionParameter(type=str, optional=True),
        # The training window: every night of it must be in the span store (a first run
        # ingests them all).
        WINDOW_NIGHTS_KEY: ExecutionParameter(type=int, optional=True),
        # Where ingested nights are indexed (components.spans.store).
        SPAN_STORE_KEY: ExecutionParameter(type=str, optional=True),
        # How many nights back a run looks for late or re-sent uploads.
        LATE_NIGHTS_KEY: ExecutionParameter(type=int, optional=True),
        # The curated schema, whose ranges a night's own figures must fall in
        # (transforms.night_ranges), and its content's fingerprint: part of the cache key, so an
        # edited schema re-ingests with its new ranges. None: the project's schema.
        SCHEMA_FILE_KEY: ExecutionParameter(type=str, optional=True),
        SCHEMA_FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
        # The online store the ingest publishes to (components.online_store); None or "": the
        # embedded one beside a local span store.
        ONLINE_STORE_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS: dict[str, ChannelParameter] = {}
    OUTPUTS = {
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        QUARANTINE_KEY: ChannelParameter(type=NightlyQuarantine),
        # Prediction requests of the ingested nights (split "serving"): every valid night that
        # can be scored, labelled or not; NightlyPredictions scores tonight's.
        REQUESTS_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }


class Driver(example_gen_driver.FileBasedDriver):
    """File-based ExampleGen driver whose fingerprint also covers late uploads and the cycle log.

    TFX fingerprints the resolved span's files; a run also re-ingests any night of the lateness
    horizon whose files changed, so those nights' folders count too (one listing each), and so
    does the cycle log. An undated pattern processes everything, so every raw file counts.
    """

    def resolve_exec_properties(self, exec_properties, pipeline_info, component_info):
        """Resolve span and version, and fingerprint the horizon's raw files and the cycle log."""
        exec_properties = super().resolve_exec_properties(
            exec_properties, pipeline_info, component_info
        )
        base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        cycles = io_utils.generate_fingerprint("cycles", os.path.join(base, rf.CYCLES_FILE))
        span = int(exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME) or 0)
        if span > 0:
            late = exec_properties.get(LATE_NIGHTS_KEY)
            night = night_of(span)
            horizon = [
                f"{n}:{night_fingerprint(base, n)[0]}"
                for n in (
                    night - dt.timedelta(days=back)
                    for back in range(1, (defaults.LATE_NIGHTS if late is None else late) + 1)
                )
            ]
            raw = "late_horizon:" + ",".join(horizon)
            # a night whose files could not all be read is retried: never served from cache
            retry = retry_marker(
                exec_properties.get(SPAN_STORE_KEY),
                [night - dt.timedelta(days=back) for back in range(len(horizon) + 1)],
            )
            raw += f"\n{retry}" if retry else ""
        else:
            raw = io_utils.generate_fingerprint("all_nights", os.path.join(base, rf.NIGHTS_GLOB))
        key = example_gen_utils.FINGERPRINT_PROPERTY_NAME
        exec_properties[key] = f"{exec_properties[key]}\n{raw}\n{cycles}"
        return exec_properties


def split_buckets_from(output_config: example_gen_pb2.Output) -> dict[str, int]:
    """Map an ExampleGen output config's split config to split weights (default 14/3/3)."""
    splits = output_config.split_config.splits
    if not splits:
        return dict(DEFAULT_SPLITS)
    return {s.name: s.hash_buckets for s in splits}


def resolved_span(exec_properties: dict[str, Any], input_config: example_gen_pb2.Input) -> int:
    """The span to process: the driver's, or resolved here when no driver ran (Kubeflow v2).

    TFX's Kubeflow v2 compiler keeps no custom driver, so the executor then finds the span the way
    the file-based driver would: the latest night folder, or the one the range config names.
    """
    span = int(exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME) or 0)
    if span or "{" not in input_config.splits[0].pattern:
        return span
    range_config = None
    if exec_properties.get(standard_component_specs.RANGE_CONFIG_KEY):
        range_config = range_config_pb2.RangeConfig()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.RANGE_CONFIG_KEY], range_config
        )
    _, span, _ = example_gen_utils.calculate_splits_fingerprint_span_and_version(
        exec_properties[standard_component_specs.INPUT_BASE_KEY],
        input_config.splits,
        range_config,
    )
    return int(span)


def night_range_config(night: str) -> range_config_pb2.RangeConfig:
    """A RangeConfig selecting the span of one night (``YYYY-MM-DD``), for re-runs and backfills."""
    span = span_of(parse_night(night))
    return range_config_pb2.RangeConfig(
        static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
    )


class Executor(base_beam_executor.BaseBeamExecutor):
    """Runs ``RawRecordingsToExamples`` and writes the examples and quarantine artifacts."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Run the feature job on the resolved span's raw files."""
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
        )
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config
        )
        buckets = split_buckets_from(output_config)
        span = resolved_span(exec_properties, input_config)
        config = FeatureJobConfig(
            input_root=exec_properties[standard_component_specs.INPUT_BASE_KEY],
            salt=load_salt(exec_properties.get(SALT_FILE_KEY) or None),
            split_buckets=buckets,
            feature_ranges=night_ranges(exec_properties.get(SCHEMA_FILE_KEY) or None),
        )
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        quarantine = artifact_utils.get_single_instance(output_dict[QUARANTINE_KEY])
        requests = artifact_utils.get_single_instance(output_dict[REQUESTS_KEY])
        requests.split_names = artifact_utils.encode_split_names([REQUESTS_SPLIT])
        if span > 0:
            store_root = exec_properties.get(SPAN_STORE_KEY)
            if not store_root:
                raise ValueError("a dated span needs a span store (the span_store parameter)")
            store = SpanStore(store_root)
            late = exec_properties.get(LATE_NIGHTS_KEY)
            # planned and committed under the store's writer lock (a local run already holds it)
            with store_writer(store.root, f"run of night {night_of(span)}"):
                plan = plan_ingest(
                    store,
                    config.input_root,
                    night_of(span),
                    window_nights=exec_properties.get(WINDOW_NIGHTS_KEY) or defaults.WINDOW_NIGHTS,
                    late_nights=defaults.LATE_NIGHTS if late is None else late,
                )
                summary = ingest(
                    plan,
                    config,
                    examples.uri,
                    quarantine.uri,
                    store,
                    exec_properties.get(CODE_VERSION_KEY) or "",
                    self._make_beam_pipeline,
                    progress=logging.info,
                    requests_dir=requests.uri,
                    online_store=exec_properties.get(ONLINE_STORE_KEY) or None,
                )
            examples.span = span
            requests.span = span
            for artifact in (examples, quarantine, requests):
                artifact.set_string_custom_property(FIRST_NIGHT_PROPERTY, str(plan.nights[0]))
                artifact.set_string_custom_property(LAST_NIGHT_PROPERTY, plan.night)
                artifact.set_int_custom_property(NIGHTS_INGESTED_PROPERTY, len(plan.ingest))
        else:  # an undated pattern: every raw file, no span store
            with self._make_beam_pipeline() as pipeline:
                outputs = pipeline | "NightlyFeatures" >> RawRecordingsToExamples(config)
                _ = outputs | "Write" >> WriteFeatureOutputs(
                    examples.uri, quarantine.uri, list(buckets), requests_dir=requests.uri
                )
            summary = json.loads(
                io_utils.read_string_file(os.path.join(quarantine.uri, SUMMARY_FILE))
            )
        examples.split_names = artifact_utils.encode_split_names(list(buckets))
        for artifact in (examples, requests):
            artifact.set_string_custom_property("payload_format", "FORMAT_TF_EXAMPLE")
            artifact.set_string_custom_property("file_format", "tfrecords_gzip")
        requests.set_int_custom_property("requests", summary["prediction_requests"])
        for split, n in summary["examples_by_split"].items():
            examples.set_int_custom_property(f"examples_{split}", n)
        quarantine.set_int_custom_property("files", summary["files"])
        quarantine.set_int_custom_property("valid_nights", summary["valid_nights"])
        quarantine.set_int_custom_property(
            "rows_rejected", sum(summary["rows_rejected_by_reason"].values())
        )
        quarantine.set_int_custom_property(
            "files_rejected", sum(summary["files_rejected_by_reason"].values())
        )


class NightlyFeatureGen(base_beam_component.BaseBeamComponent):
    """ExampleGen over raw nightly recordings and the cycle log (a Beam job on any runner)."""

    SPEC_CLASS = NightlyFeatureGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
    DRIVER_CLASS = Driver

    def __init__(
        self,
        input_base: str,
        salt_file: str | None = None,
        split_buckets: dict[str, int] | None = None,
        nights_pattern: str = rf.DATED_NIGHTS_PATTERN,
        range_config: range_config_pb2.RangeConfig | None = None,
        code_version: str | None = None,
        window_nights: int | None = None,
        span_store: str | None = None,
        late_nights: int | None = None,
        schema_file: str | None = None,
        schema_fingerprint: str | None = None,
        online_store: str | None = None,
    ):
        """Configure the component.

        Args:
          input_base: the data root holding ``nights/`` and ``cycles.csv``.
          salt_file: a file holding the user-id salt; when None the executor reads
            ``$CYCLECAST_ID_SALT`` or ``$CYCLECAST_ID_SALT_FILE``.
          split_buckets: split names and weights, split by a hash of the user id.
          nights_pattern: raw files under ``input_base``; with TFX's date specs (the default)
            each night's folder is a span, the latest one unless ``range_config`` names one.
          range_config: which span to process (TFX RangeConfig, a static range of one span).
          code_version: a fingerprint of the feature code, so a change re-runs the job.
          window_nights: the training window: a night of the window ending with the span that
            was never ingested is ingested now (``defaults.WINDOW_NIGHTS`` when None).
          span_store: the span store's root (needed with a dated pattern).
          late_nights: how many nights back to look for late or re-sent uploads
            (``defaults.LATE_NIGHTS`` when None).
          schema_file: the curated schema whose ranges each night is held to (the project's
            ``schema/schema.pbtxt`` when None).
          schema_fingerprint: the schema's content fingerprint, so an edit re-runs the job.
          online_store: the online store's URL (``redis://host:port/db``); None: the embedded
            SQLite store beside a local span store (``components.online_store``).
        """
        buckets = dict(split_buckets or DEFAULT_SPLITS)
        spec = NightlyFeatureGenSpec(
            input_base=input_base,
            input_config=example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="nights", pattern=nights_pattern)]
            ),
            output_config=example_gen_pb2.Output(
                split_config=example_gen_pb2.SplitConfig(
                    splits=[
                        example_gen_pb2.SplitConfig.Split(name=n, hash_buckets=w)
                        for n, w in buckets.items()
                    ]
                )
            ),
            range_config=range_config,
            salt_file=salt_file,
            code_version=code_version,
            window_nights=window_nights,
            span_store=span_store,
            late_nights=late_nights,
            schema_file=schema_file,
            schema_fingerprint=schema_fingerprint,
            online_store=online_store or None,
            examples=types.Channel(type=standard_artifacts.Examples),
            quarantine=types.Channel(type=NightlyQuarantine),
            requests=types.Channel(type=standard_artifacts.Examples),
        )
        super().__init__(spec=spec)
