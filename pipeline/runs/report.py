"""``cyclecast report RUN``: one self-contained HTML page about a pipeline run.

``collect_report`` reads what the run recorded (through ``pipeline.metadata.store``) and computes
every figure's data with the pure functions of ``pipeline.runs.figures``; ``render_report`` fills
the jinja2 template ``templates/report.html.j2`` (autoescaped) with that data, the charts as inline
SVG (``pipeline.runs.svg_plot``), the CSS and a few lines of JavaScript. Nothing on the page loads
from the network.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from components.calendar_rule import binary_metrics, predict_examples
from pipeline.metadata import store as md
from pipeline.runs import svg_plot as sp
from pipeline.runs.figures import (
    CALIBRATION_BINS,
    MAX_CYCLE_DAY,
    MENSES_DAYS,
    PHASES,
    calibration_bins,
    clean,
    curve_auc,
    cycle_phases,
    feature_statistics,
    metric_comparison,
    phase_distributions,
    rates_by_cycle_day,
    roc_curve,
)
from pipeline.runs.summary import drift_line, nights_line, summarize_context
from transforms import features as fc

SCORED_SPLIT = "eval"  # the split the Evaluator and the calendar baseline score
PHASE_SPLIT = "train"  # the split whose feature distributions are shown by cycle phase
TEMPLATES = Path(__file__).parent / "templates"
COMPARED_MODELS = ("candidate", "baseline", "calendar rule")
SCORED_KEYS = ("sensitivity", "specificity", "precision", "accuracy")
QUARANTINE_COUNTS = (
    ("rows_rejected_by_reason", "rows rejected"),
    ("files_rejected_by_reason", "files rejected"),
    ("nights_invalid_by_reason", "invalid nights"),
)


# ---------------------------------------------------------------- collecting a run's data


@dataclass
class ReportData:
    """Everything the page shows, as plain data (also embedded in the page as JSON)."""

    run: dict
    comparison: dict
    examples: dict
    quarantine: dict
    nights: str = ""  # the window of nights the examples cover
    drift: str = ""  # the drift check's outcome
    statistics: dict = field(default_factory=dict)  # split -> feature rows
    anomalies: dict = field(default_factory=dict)  # split -> feature -> what broke
    phases: dict = field(default_factory=dict)  # feature -> phase -> percentiles
    phase_counts: dict = field(default_factory=dict)
    scored: dict = field(default_factory=dict)  # model, split, nights, own metrics
    roc: dict = field(default_factory=dict)
    calibration: list = field(default_factory=list)
    by_cycle_day: list = field(default_factory=list)
    missing: list = field(default_factory=list)  # sections this run has no artifact for


def _scores(model_dir: str, rows: list[dict]) -> dict:
    """Model probability and decision, and the calendar rule's call, for each row."""
    from pipeline.serving.evaluate import model_predictions

    predictions = model_predictions(model_dir, rows)
    return {
        "labels": np.array([r[fc.LABEL_KEY][0] for r in rows], int),
        "cycle_day": np.array([r[fc.CYCLE_DAY][0] for r in rows], int),
        "probability": np.array([p.probability for p in predictions], float),
        "model": np.array([p.fertile for p in predictions], int),
        "calendar rule": predict_examples(rows),
    }


def collect_report(metadata_path: str, pipeline_name: str, run_id: str | None) -> ReportData:
    """Read a run (an id, a unique prefix, ``latest`` or None) and compute every figure's data."""
    from tfx.components.statistics_gen.stats_artifact_utils import load_statistics

    from pipeline.serving.evaluate import auc
    from transforms.tf_example import read_examples

    store = md.connect(metadata_path)
    context = md.find_run(store, pipeline_name, run_id)
    summary = summarize_context(store, context)
    outputs = md.run_outputs(store, context)
    data = ReportData(
        run={
            "run_id": summary.run_id,
            "started": summary.started,
            "duration_s": summary.duration_s,
            "git_commit": summary.code.get("git_commit"),
            "train_steps": (summary.training.get("train_args") or {}).get("num_steps"),
            "blessed": summary.blessed,
            "pushed_path": summary.pushed_path,
            "pushed_version": summary.pushed_version,
            "executions": summary.executions,
        },
        comparison=metric_comparison(summary),
        examples=summary.examples,
        quarantine=summary.quarantine,
        nights=nights_line(summary.data),
        drift=drift_line(summary.drift),
    )
    data.anomalies = summary.anomalies
    if not summary.anomalies:
        data.missing.append("anomalies")
    stats = outputs.get("StatisticsGen.statistics")
    if stats is None:
        data.missing.append("statistics")
    else:
        for split in stats.split_names():  # TFX's reader: the file's name and format by version
            stats_list = load_statistics(stats.tfx_artifact(), split).proto()
            data.statistics[split] = feature_statistics(stats_list)

    examples = outputs.get(md.WINDOW_EXAMPLES)
    if examples is None:
        data.missing.append("examples")
        return data
    train_rows = read_examples(examples.split_files(PHASE_SPLIT))
    phases = cycle_phases(train_rows)
    data.phases = phase_distributions(train_rows, phases=phases)
    data.phase_counts = {p: phases.count(p) for p in PHASES}

    model = outputs.get("Trainer.model")
    if model is None:
        data.missing.append("model")
        return data
    from tfx.utils import path_utils

    model_dir = path_utils.serving_model_path(model.uri)
    rows = read_examples(examples.split_files(SCORED_SPLIT))
    s = _scores(model_dir, rows)
    data.roc = roc_curve(s["labels"], s["probability"])
    data.calibration = calibration_bins(s["labels"], s["probability"])
    data.by_cycle_day = rates_by_cycle_day(
        s["cycle_day"], s["labels"], {k: s[k] for k in ("model", "calendar rule")}
    )
    data.scored = clean(
        {
            "model_dir": model_dir,
            "split": SCORED_SPLIT,
            "nights": len(rows),
            "auc_rank": auc(s["labels"], s["probability"]),
            "auc_curve": curve_auc(data.roc["fpr"], data.roc["tpr"]),
            "model": binary_metrics(s["labels"], s["model"]),
            "calendar rule": binary_metrics(s["labels"], s["calendar rule"]),
        }
    )
    return data


# ---------------------------------------------------------------- charts (inline SVG)


def _unit_square(series: list[sp.Series], label: str, x_label: str, y_label: str) -> str:
    """A chart of rates or probabilities on both axes, with the diagonal drawn."""
    return sp.line_chart(
        series,
        label=label,
        x_label=x_label,
        y_label=y_label,
        x_range=(0, 1),
        y_range=(0, 1),
        diagonal=True,
    )


def _operating_point(name: str, metrics: dict, color: str) -> sp.Series:
    """A predictor's (1 - specificity, sensitivity) as one ROC marker."""
    return sp.Series(
        name,
        [1 - metrics["specificity"]],
        [metrics["sensitivity"]],
        color,
        markers=True,
        line=False,
    )


def _model_charts(d: ReportData) -> dict[str, str]:
    """The ROC, calibration and cycle-day charts of the scored model."""
    sc = d.scored
    fpr, tpr = d.roc["fpr"], d.roc["tpr"]
    m, cal = sc["model"], sc["calendar rule"]
    roc = _unit_square(
        [
            sp.Series("model", fpr, tpr, sp.PALETTE[0]),
            _operating_point("model at decision threshold", m, sp.PALETTE[3]),
            _operating_point("calendar rule", cal, sp.PALETTE[1]),
        ],
        "ROC curve",
        "1 - specificity (false-positive rate)",
        "sensitivity (true-positive rate)",
    )
    bins = [b for b in d.calibration if b["count"]]
    calib = _unit_square(
        [
            sp.Series(
                "model",
                [b["mean_predicted"] for b in bins],
                [b["observed"] for b in bins],
                sp.PALETTE[0],
                markers=True,
            )
        ],
        "calibration curve",
        "mean predicted probability (bin)",
        "observed fertile fraction",
    )
    days = [r["day"] for r in d.by_cycle_day]

    def rate(who: str, what: str) -> list:
        return [r[who][what] for r in d.by_cycle_day]

    by_day = sp.line_chart(
        [
            sp.Series(
                "model sensitivity", days, rate("model", "sensitivity"), sp.PALETTE[0], markers=True
            ),
            sp.Series("model specificity", days, rate("model", "specificity"), sp.PALETTE[3]),
            sp.Series(
                "calendar sensitivity",
                days,
                rate("calendar rule", "sensitivity"),
                sp.PALETTE[1],
                dashed=True,
                markers=True,
            ),
            sp.Series(
                "calendar specificity",
                days,
                rate("calendar rule", "specificity"),
                sp.PALETTE[4],
                dashed=True,
            ),
        ],
        label="sensitivity and specificity by cycle day",
        x_label=f"cycle day (days past {MAX_CYCLE_DAY} pooled)",
        y_label="rate",
        x_range=(1, max(days, default=1)),
        y_range=(0, 1.02),
        width=640,
        x_ticks=[1, *range(5, max(days, default=1) + 1, 5)],
    )
    return {"roc": roc, "calibration": calib, "by_cycle_day": by_day}


def _charts(d: ReportData) -> dict:
    """Every chart of the page as SVG text."""
    charts: dict = {
        "comparison": sp.bar_chart(
            list(d.comparison),
            {n: [d.comparison[k][n] for k in d.comparison] for n in COMPARED_MODELS},
            label="candidate vs blessed baseline vs calendar rule",
            y_label="value",
            colors=(sp.PALETTE[0], sp.PALETTE[2], sp.PALETTE[1]),
        ),
        "phases": {
            name: sp.box_chart(
                {p: boxes[p] for p in PHASES},
                label=f"{name} by cycle phase",
                y_label=f"{name} - own median",
            )
            for name, boxes in d.phases.items()
        },
    }
    if d.roc:
        charts.update(_model_charts(d))
    return charts


# ---------------------------------------------------------------- HTML


def _num(v, digits: int = 3) -> str:
    """A figure for a table cell: ``-`` when absent, integers as they are."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}"


def _statistics_rows(d: ReportData, markup) -> tuple[dict, dict]:
    """Per split, the numeric and the string features' table rows (histograms as SVG)."""
    numeric, strings = {}, {}
    for split, rows in d.statistics.items():
        numeric[split] = [
            [
                r["feature"],
                r["present"],
                r["missing"],
                _num(r["values_per_example"], 1),
                *(_num(r[k]) for k in ("mean", "std_dev", "min", "median", "max")),
                markup(sp.histogram(r["histogram"], label=f"{r['feature']} histogram")),
            ]
            for r in rows
            if r["kind"] == "numeric"
        ]
        strings[split] = [
            [
                r["feature"],
                r["present"],
                r["missing"],
                r["unique"],
                ", ".join(f"{v} ({n})" for v, n in r["top_values"]),
            ]
            for r in rows
            if r["kind"] == "string"
        ]
    return numeric, strings


def _environment():
    """The template environment: autoescaped HTML, and the page's number formats as filters."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _num
    env.filters["exact"] = repr  # a metric's full precision, for a test or a script to read
    return env


def render_report(d: ReportData) -> str:
    """The whole page: inline CSS, SVG and script; the figure data embedded as JSON."""
    from markupsafe import Markup

    env = _environment()
    started = d.run["started"]
    sc = d.scored
    numeric, strings = _statistics_rows(d, Markup)
    charts = _charts(d)
    charts = {
        k: {n: Markup(v) for n, v in c.items()} if isinstance(c, dict) else Markup(c)
        for k, c in charts.items()
    }
    # JSON inside <script> is raw text, not HTML: escaping it would corrupt it; "</" is what
    # could end the element early, so it is written "<\/" (still the same JSON)
    payload = json.dumps(clean(asdict(d)), sort_keys=True).replace("</", "<\\/")
    return env.get_template("report.html.j2").render(
        d=d,
        started=(
            dt.datetime.fromtimestamp(started, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            if started
            else "-"
        ),
        took=f"{d.run['duration_s']:.0f} s" if d.run["duration_s"] is not None else "-",
        compared_models=COMPARED_MODELS,
        charts=charts,
        scored_rows=[
            [
                "model",
                sc["nights"],
                _num(sc["auc_rank"]),
                *(_num(sc["model"][k]) for k in SCORED_KEYS),
            ],
            [
                "calendar rule",
                sc["nights"],
                "-",
                *(_num(sc["calendar rule"][k]) for k in SCORED_KEYS),
            ],
        ]
        if sc
        else [],
        calibration_bins=CALIBRATION_BINS,
        phase_split=PHASE_SPLIT,
        menses_days=MENSES_DAYS,
        quarantined=[
            [title, reason, n]
            for key, title in QUARANTINE_COUNTS
            for reason, n in sorted((d.quarantine.get(key) or {}).items())
        ],
        numeric=numeric,
        strings=strings,
        payload=Markup(payload),
        css=Markup((TEMPLATES / "report.css").read_text()),
        js=Markup((TEMPLATES / "report.js").read_text()),
    )


def default_report_path(workdir: Path, run_id: str) -> Path:
    """``<workdir>/reports/<run id>.html`` (colons in the id become dashes)."""
    return workdir / "reports" / f"{run_id.replace(':', '-')}.html"


def write_report(
    metadata_path: str, pipeline_name: str, run_id: str | None, out: Path | None, workdir: Path
) -> Path:
    """Collect, render and write a run's report; return the file written."""
    data = collect_report(metadata_path, pipeline_name, run_id)
    path = out or default_report_path(workdir, data.run["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data))
    return path
