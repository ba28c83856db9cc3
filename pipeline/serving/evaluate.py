"""``cyclecast evaluate``: a pushed model and the calendar rule on any split, side by side.

The pipeline's Evaluator scores the eval split; this scores any split (the held-out test split
above all) with the served signature on raw examples, exactly as TF Serving would answer.
"""

from __future__ import annotations

from components.calendar_rule import binary_metrics, score_examples
from transforms import features as fc


def latest_examples(
    metadata_path: str, pipeline_name: str, split: str, run: str | None = "latest"
) -> str:
    """The examples of a run's training window for ``split`` (the latest run's by default).

    A glob pattern found through ML Metadata, so it also points into a remote pipeline root.
    """
    from pipeline.metadata import store as md

    store = md.connect(metadata_path)
    context = md.find_run(store, pipeline_name, run)
    examples = md.run_outputs(store, context).get(md.WINDOW_EXAMPLES)
    if examples is None or split not in examples.split_names():
        raise FileNotFoundError(
            f"run {context.name} has no training-window examples for split {split!r}"
        )
    return examples.split_files(split)


def auc(labels, scores) -> float:
    """Area under the ROC curve (scikit-learn's; NaN when only one class is present)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels, bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, scores))


def model_predictions(model_dir: str, rows: list[dict[str, list]]) -> list:
    """The model's answers (``predict.Prediction``) for labelled example rows.

    Each row goes through the serving signature as a raw request, exactly as TF Serving answers.
    """
    from pipeline.serving.predict import build_requests, predict_local
    from transforms.serving_request import night_from_example

    return predict_local(model_dir, build_requests([night_from_example(r) for r in rows]))


def evaluate(model_dir: str, examples_pattern: str) -> dict:
    """Score the model (its own decision output) and the calendar rule on the same nights."""
    import numpy as np

    from transforms.tf_example import read_examples

    rows = read_examples(examples_pattern)
    if not rows:
        raise FileNotFoundError(f"no examples match {examples_pattern}")
    labels = np.array([r[fc.LABEL_KEY][0] for r in rows])
    predictions = model_predictions(model_dir, rows)
    probability = np.array([p.probability for p in predictions])
    model = binary_metrics(labels, np.array([p.fertile for p in predictions]))
    model["auc"] = auc(labels, probability)
    return {"examples": examples_pattern, "model": model, "calendar": score_examples(rows)}


def format_evaluation(result: dict) -> str:
    """Render the comparison for a person."""
    keys = ("examples", "accuracy", "sensitivity", "specificity", "precision")
    lines = [
        f"examples: {result['examples']}",
        f"{'':14}" + "".join(f"{k:>13}" for k in keys + ("auc",)),
    ]
    for name in ("model", "calendar"):
        m = result[name]
        cells = [f"{m[k]:>13}" if k == "examples" else f"{m[k]:>13.3f}" for k in keys]
        cells.append(f"{m['auc']:>13.3f}" if "auc" in m else f"{'-':>13}")
        lines.append(f"{name + ' rule' if name == 'calendar' else name:<14}" + "".join(cells))
    return "\n".join(lines)
