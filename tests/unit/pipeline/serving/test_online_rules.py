"""The online path names the rule a bad upload broke, before any model is asked."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.serving.online import BadUpload, upload_request
from pipeline.serving.predict import model_error_text
from tests.rawfiles import steady_night, to_file
from transforms import raw_format as rf


def test_an_upload_outside_the_schema_names_the_feature_value_and_bound(tmp_path):
    cycles = tmp_path / rf.CYCLES_FILE
    cycles.write_text(",".join(rf.CYCLES_COLUMNS) + "\nu1,0,2026-01-01,28,14,5\n")
    cold = to_file(steady_night(5, temp="28.90"))  # 5 C low: every row a plausible reading
    with pytest.raises(BadUpload) as refused:
        upload_request(cold, "u1", dt.date(2026, 1, 5), cycles, str(tmp_path / "spans"), b"s")
    assert str(refused.value) == (
        "the upload for 2026-01-05 is not a valid night: feature_out_of_range "
        "(skin_temp 28.9 < 30 (the schema's minimum))"
    )


def test_the_models_own_check_is_named_not_graph_execution_error():
    # the text TensorFlow 2.16 raised for this check in a tf.function (the apostrophe escaped)
    message = (
        "Graph execution error:\n\nDetected at node assert_greater_equal/Assert/AssertGuard/Assert"
        ' defined at (most recent call last):\n  File "x.py", line 1\n\n'
        "assertion failed: [bad request: skin_temp is below 30.0, the schema\\'s minimum] "
        "[Condition x >= y did not hold element-wise:] [x (skin_temp:0) = ] [28.88]\n"
        "\t [[{{node assert_greater_equal/Assert/AssertGuard/Assert}}]] [Op:__inference_1]"
    )
    assert model_error_text(message) == "bad request: skin_temp is below 30.0, the schema's minimum"
    assert model_error_text("Graph execution error:\n\nsomething else\n") == "something else"
    assert model_error_text("plain") == "plain"
