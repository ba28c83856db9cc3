"""Scale-out is configuration: the Beam profiles, and a Kubeflow config's choice of one."""

from __future__ import annotations

import pytest

from pipeline.config import BeamConfig
from pipeline.orchestration.kubeflow import ConfigError, load_kubeflow_config

PROFILES = ("direct", "dataflow", "flink", "spark")


def _options(profile: str):
    from apache_beam.options.pipeline_options import PipelineOptions

    return PipelineOptions(BeamConfig.from_profile(profile).args())


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_argument_is_a_beam_option(profile):
    options = _options(profile)
    known = options.get_all_options()
    for arg in BeamConfig.from_profile(profile).args():
        name = arg.lstrip("-").split("=", 1)[0]
        assert name in known, f"{profile}: {name} is not a Beam option"


def test_dataflow_profile():
    from apache_beam.options.pipeline_options import (
        DebugOptions,
        GoogleCloudOptions,
        StandardOptions,
        WorkerOptions,
    )

    o = _options("dataflow")
    assert o.view_as(StandardOptions).runner == "DataflowRunner"
    gcp = o.view_as(GoogleCloudOptions)
    assert gcp.project and gcp.region and gcp.temp_location.startswith("gs://")
    assert o.view_as(WorkerOptions).sdk_container_image  # workers run the component image
    assert "use_runner_v2" in o.view_as(DebugOptions).experiments


def test_flink_and_spark_profiles():
    from apache_beam.options.pipeline_options import (
        FlinkRunnerOptions,
        PortableOptions,
        SparkRunnerOptions,
        StandardOptions,
    )

    flink = _options("flink")
    assert flink.view_as(StandardOptions).runner == "FlinkRunner"
    assert flink.view_as(FlinkRunnerOptions).flink_master.endswith(":8081")
    spark = _options("spark")
    assert spark.view_as(StandardOptions).runner == "SparkRunner"
    assert spark.view_as(SparkRunnerOptions).spark_master_url.startswith("spark://")
    for o in (flink, spark):
        portable = o.view_as(PortableOptions)
        assert portable.environment_type == "DOCKER" and portable.environment_config


def test_runner_names_resolve_to_beam_runners():
    from apache_beam.runners.runner import create_runner

    for profile in PROFILES:
        runner = BeamConfig.from_profile(profile).runner
        assert create_runner(runner).__class__.__name__.endswith(runner)  # SwitchingDirectRunner


def test_kubeflow_config_takes_a_beam_profile(tmp_path):
    config = tmp_path / "k.toml"
    config.write_text('image = "i"\npipeline_root = "gs://b/p"\ndata_root = "gs://b/raw"\n'
                      'serving_dir = "gs://b/serving"\nbeam_profile = "dataflow"\n')
    cfg = load_kubeflow_config(config)
    assert cfg.pipeline.beam == BeamConfig.from_profile("dataflow")
    config.write_text(config.read_text() + '[beam]\nrunner = "DirectRunner"\n')
    with pytest.raises(ConfigError, match="either beam_profile or a \\[beam\\] table"):
        load_kubeflow_config(config)
    with pytest.raises(FileNotFoundError, match="known:"):
        BeamConfig.from_profile("nosuch")
