"""The Evaluator's baseline: the Trainer model of the newest push, as TFX's Evaluator reads one."""

from __future__ import annotations

from pathlib import Path

from components.push_records import PushRecord, write_push_record


def test_the_baseline_is_the_trainer_model_of_the_newest_push_or_the_pinned_one(tmp_path):
    from components.baseline_evaluator import baseline_uri

    assert baseline_uri(str(tmp_path), "") == ("", 0)  # the first night: no baseline
    (tmp_path / "100").mkdir()
    (tmp_path / "100" / "saved_model.pb").write_bytes(b"")
    write_push_record(str(tmp_path), PushRecord("100", "/root/Trainer/model/7", model_id=7))
    assert baseline_uri(str(tmp_path), "") == ("/root/Trainer/model/7", 7)
    # a local run pins what it read when it built the pipeline (the Evaluator's cache key)
    assert baseline_uri(str(tmp_path), "/root/Trainer/model/5") == ("/root/Trainer/model/5", 0)


def test_tfx_finds_the_serving_model_of_the_baseline_under_format_serving(tmp_path):
    from tfx.utils import path_utils

    from components.baseline_evaluator import baseline_model

    model = baseline_model(str(tmp_path), model_id=7)
    assert model.id == 7 and model.type_name == "Model"
    assert not path_utils.is_old_model_artifact(model)
    assert Path(path_utils.serving_model_path(model.uri)) == tmp_path / "Format-Serving"


def test_the_evaluator_takes_no_baseline_channel_so_nothing_needs_resolving():
    from components.baseline_evaluator import MODEL_BASE_KEY, Evaluator

    spec = Evaluator.SPEC_CLASS
    assert "baseline_model" not in spec.INPUTS and MODEL_BASE_KEY in spec.PARAMETERS
