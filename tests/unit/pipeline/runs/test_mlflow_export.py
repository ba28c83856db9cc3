"""MLflow export without a store: passwords stay out of what is printed and recorded."""

from __future__ import annotations


def test_passwords_stay_out_of_what_is_printed_and_recorded():
    from pipeline.runs.mlflow_export import redacted

    assert redacted("mysql+pymysql://u:secret@db:3306/mlflow") == "mysql+pymysql://u:***@db:3306/mlflow"
    assert redacted("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
