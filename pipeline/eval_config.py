"""The TFMA evaluation config: metrics, blessing thresholds, slices."""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from pipeline.config import EvaluationConfig
from transforms import features as fc
from transforms.serving_request import PROBABILITY, SERVING_SIGNATURE


def _at_threshold(
    name: str, threshold: float, lower_bound: float | None = None
) -> tfma.MetricConfig:
    key = "threshold" if name == "BinaryAccuracy" else "thresholds"
    config = tfma.MetricConfig(class_name=name, config=json.dumps({key: threshold}))
    if lower_bound is not None:
        config.threshold.CopyFrom(_threshold(lower_bound, None))
    return config


def _threshold(lower_bound: float, max_drop: float | None) -> tfma.MetricThreshold:
    threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": lower_bound})
    )
    if max_drop is not None:
        threshold.change_threshold.CopyFrom(
            tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -max_drop}
            )
        )
    return threshold


def make_eval_config(cfg: EvaluationConfig) -> tfma.EvalConfig:
    """Metrics at the decision threshold, value thresholds, and the change allowed vs baseline.

    AUC must clear ``min_auc`` and may not fall more than ``max_auc_drop`` below the latest
    blessed model (the change threshold is skipped when there is no baseline yet: the first run
    is blessed on the value thresholds alone). Sensitivity and specificity have floors too.
    """
    t = cfg.decision_threshold
    metrics = [
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="AUC", threshold=_threshold(cfg.min_auc, cfg.max_auc_drop)),
        _at_threshold("BinaryAccuracy", t),
        _at_threshold("Precision", t),
        _at_threshold("Recall", t, cfg.min_sensitivity),  # sensitivity
        _at_threshold("Specificity", t, cfg.min_specificity),
        tfma.MetricConfig(class_name="Calibration"),  # mean prediction / mean label
        tfma.MetricConfig(class_name="CalibrationPlot"),
        tfma.MetricConfig(class_name="MeanLabel"),
        tfma.MetricConfig(class_name="MeanPrediction"),
    ]
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=SERVING_SIGNATURE, label_key=fc.LABEL_KEY, prediction_key=PROBABILITY
            )
        ],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[fc.CYCLE_REGULARITY])],
    )
