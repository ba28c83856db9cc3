"""``cyclecast report RUN``: one self-contained HTML page about a pipeline run.

The figures' data are computed by pure functions (``roc_curve``, ``calibration_bins``,
``rates_by_cycle_day``, ``cycle_phases``, ``phase_distributions``, ``feature_statistics``,
``metric_comparison``) from what the run recorded in ML Metadata and the artifacts it points to;
``render_report`` turns them into HTML with inline SVG (``pipeline.runs.svg_plot``), CSS and a few
lines of JavaScript. Nothing on the page loads from the network.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path

import numpy as np

from components.calendar_rule import binary_metrics, predict_examples
from pipeline.runs import metadata as md
from pipeline.runs import svg_plot as sp
from pipeline.runs.summary import RunSummary, drift_line, nights_line, summarize_run
from transforms import features as fc

SCORED_SPLIT = "eval"  # the split the Evaluator and the calendar baseline score
PHASE_SPLIT = "train"  # the split whose feature distributions are shown by cycle phase
MENSES_DAYS = 5  # report-only phase label: cycle days 1-5 (DESIGN.md: menses 5.2 d on average)
PHASES = ("menses", "follicular", "fertile", "luteal")
CALIBRATION_BINS = 10
MAX_CYCLE_DAY = 40  # longer cycles are pooled into the last day shown
# (label, TFMA metric of the models, key of the calendar rule's metrics)
COMPARED = (
    ("AUC", "auc", None),
    ("sensitivity", "recall", "sensitivity"),
    ("specificity", "specificity", "specificity"),
    ("precision", "precision", "precision"),
    ("accuracy", "binary_accuracy", "accuracy"),
)


# ---------------------------------------------------------------- figure data (pure functions)


def _clean(value):
    """NaN and numpy scalars to JSON-friendly values (None, float, int)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def roc_curve(labels, scores) -> dict[str, list[float]]:
    """ROC points (false-positive rate, true-positive rate) at every distinct score.

    Starts at (0, 0) and ends at (1, 1); ``thresholds[i]`` is the lowest score called positive at
    point i (None for the first point, where nothing is). Tied scores move the curve
    diagonally, so the area under these points equals the rank statistic
    (``pipeline.serving.evaluate.auc``).
    """
    labels = np.asarray(labels, bool)
    scores = np.asarray(scores, float)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tp = np.cumsum(y)[last_of_tie]
    fp = np.cumsum(~y)[last_of_tie]
    n_pos, n_neg = max(int(labels.sum()), 1), max(int((~labels).sum()), 1)
    return {
        "fpr": [0.0, *(fp / n_neg).tolist()],
        "tpr": [0.0, *(tp / n_pos).tolist()],
        "thresholds": [None, *s[last_of_tie].tolist()],
    }


def curve_auc(fpr: list[float], tpr: list[float]) -> float:
    """Area under a curve given by its points (trapezoids)."""
    x, y = np.asarray(fpr, float), np.asarray(tpr, float)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def calibration_bins(labels, scores, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Equal-width probability bins: mean predicted probability vs observed fertile fraction."""
    labels = np.asarray(labels, float)
    scores = np.asarray(scores, float)
    index = np.minimum((scores * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        inside = index == b
        n = int(inside.sum())
        out.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": n,
                "mean_predicted": float(scores[inside].mean()) if n else None,
                "observed": float(labels[inside].mean()) if n else None,
            }
        )
    return out


def rates_by_cycle_day(
    cycle_day, labels, predicted: dict[str, np.ndarray], max_day: int = MAX_CYCLE_DAY
) -> list[dict]:
    """Per cycle day: fertile and other nights, and each predictor's sensitivity and specificity.

    Days past ``max_day`` are pooled into ``max_day``. A rate is None where it is undefined (no
    fertile night, or no other night, on that day).
    """
    days = np.minimum(np.asarray(cycle_day, int), max_day)
    labels = np.asarray(labels, int)
    rows = []
    for day in range(1, int(days.max(initial=0)) + 1):
        on_day = days == day
        if not on_day.any():
            continue
        row = {
            "day": day,
            "fertile_nights": int(labels[on_day].sum()),
            "other_nights": int((1 - labels[on_day]).sum()),
        }
        for name, pred in predicted.items():
            m = binary_metrics(labels[on_day], np.asarray(pred)[on_day])
            row[name] = {"sensitivity": m["sensitivity"], "specificity": m["specificity"]}
        rows.append(_clean(row))
    return rows


def cycle_phases(rows: list[dict[str, list]]) -> list[str | None]:
    """Each night's cycle phase: menses, follicular, fertile (the label) or luteal.

    Nights are grouped into cycles by user and cycle start (the night's date minus its cycle day);
    nights before the cycle's first fertile night are follicular (after the first
    ``MENSES_DAYS``), after its last fertile night luteal. Nights of a cycle with no fertile night
    in the data (anovulatory, or the window fell on missing nights) get None unless menses.
    """
    start_of = []
    window: dict[tuple, list[int]] = {}
    for r in rows:
        day = int(r[fc.CYCLE_DAY][0])
        night = dt.date.fromisoformat(r[fc.NIGHT_DATE][0].decode())
        key = (r[fc.USER_KEY][0], night - dt.timedelta(days=day - 1))
        start_of.append(key)
        if r[fc.LABEL_KEY][0]:
            window.setdefault(key, []).append(day)
    phases: list[str | None] = []
    for r, key in zip(rows, start_of, strict=True):
        day = int(r[fc.CYCLE_DAY][0])
        fertile_days = window.get(key)
        if r[fc.LABEL_KEY][0]:
            phases.append("fertile")
        elif day <= MENSES_DAYS:
            phases.append("menses")
        elif not fertile_days:
            phases.append(None)
        elif day < min(fertile_days):
            phases.append("follicular")
        else:
            phases.append("luteal")
    return phases


def phase_distributions(
    rows: list[dict[str, list]],
    feature_names: tuple[str, ...] = fc.NIGHTLY_FEATURES,
    phases: list[str] | None = None,
) -> dict[str, dict[str, list[float] | None]]:
    """Per feature and phase: percentiles (10, 25, 50, 75, 90) of values relative to the user.

    Each night's value minus the same user's median: between-person differences would otherwise
    hide the cycle. ``phases`` are the rows' ``cycle_phases``, when already known.
    """
    phases = phases if phases is not None else cycle_phases(rows)
    users = np.array([r[fc.USER_KEY][0] for r in rows], dtype=object)
    out: dict[str, dict[str, list[float] | None]] = {}
    for name in feature_names:
        values = np.array([r[name][0] for r in rows], float)
        relative = np.empty_like(values)
        for user in set(users):
            mine = users == user
            relative[mine] = values[mine] - np.median(values[mine])
        out[name] = {}
        for phase in PHASES:
            inside = np.array([p == phase for p in phases], bool)
            out[name][phase] = (
                np.percentile(relative[inside], [10, 25, 50, 75, 90]).tolist()
                if inside.any()
                else None
            )
    return out


def feature_statistics(stats_list) -> list[dict]:
    """One row per feature of a TFDV ``DatasetFeatureStatisticsList`` (its first dataset)."""
    if not stats_list.datasets:
        return []
    dataset = stats_list.datasets[0]
    rows = []
    for f in dataset.features:
        kind = f.WhichOneof("stats")
        name = ".".join(f.path.step) or f.name
        if kind == "num_stats":
            ns = f.num_stats
            common = ns.common_stats
            standard = [h for h in ns.histograms if h.type == h.STANDARD]
            rows.append(
                {
                    "feature": name,
                    "kind": "numeric",
                    "present": int(common.num_non_missing),
                    "missing": int(common.num_missing),
                    "values_per_example": float(common.avg_num_values),
                    "mean": ns.mean,
                    "std_dev": ns.std_dev,
                    "min": ns.min,
                    "median": ns.median,
                    "max": ns.max,
                    "zeros": int(ns.num_zeros),
                    "histogram": [b.sample_count for b in standard[0].buckets] if standard else [],
                }
            )
        elif kind == "string_stats":
            ss = f.string_stats
            rows.append(
                {
                    "feature": name,
                    "kind": "string",
                    "present": int(ss.common_stats.num_non_missing),
                    "missing": int(ss.common_stats.num_missing),
                    "unique": int(ss.unique),
                    "top_values": [(v.value, int(v.frequency)) for v in ss.top_values[:3]],
                }
            )
    return rows


def metric_comparison(summary: RunSummary) -> dict[str, dict[str, float | None]]:
    """Candidate, blessed baseline and calendar rule on the same metrics (None where absent)."""
    out: dict[str, dict[str, float | None]] = {}
    for label, model_key, calendar_key in COMPARED:
        out[label] = {
            "candidate": summary.candidate.get(model_key),
            "baseline": summary.baseline.get(model_key) if summary.baseline else None,
            "calendar rule": summary.calendar.get(calendar_key) if calendar_key else None,
        }
    return out


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

    summary = summarize_run(metadata_path, pipeline_name, run_id)
    store = md.connect(metadata_path)
    outputs = md.run_outputs(store, md.find_run(store, pipeline_name, summary.run_id))
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

    examples = outputs.get("NightlyFeatureGen.examples")
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
    data.scored = _clean(
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


# ---------------------------------------------------------------- HTML


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.meta{color:#555}.note{color:#666;font-size:12.5px;max-width:900px}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right;vertical-align:middle}
th{background:#f0f0f0}td.name,th.name{text-align:left}
.figs{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;background:#fff;border:1px solid #e3e3e3;border-radius:4px;padding:8px}
figcaption{font-size:12.5px;color:#444;max-width:440px;margin-top:4px}
svg.chart{max-width:100%;height:auto;font-size:10.5px}
svg .grid{stroke:#eee}svg .axis{stroke:#555}svg .diagonal{stroke:#aaa;stroke-dasharray:3 3}
svg .tick{fill:#555}svg .label{fill:#222;font-size:11.5px}svg .legend{fill:#222}
.ok{color:#1a7f37}.bad{color:#b42318}#render-errors{color:#b42318;white-space:pre-wrap}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
#roc-readout{font-size:12.5px;min-height:1.4em;color:#333}
"""

# Checks, in the browser, that every figure laid out a non-empty SVG with marks in it; records
# any script error on the page itself (a headless test reads both back from the DOM).
_JS = """
(function(){
  var errors=[];
  function report(msg){errors.push(String(msg));
    var el=document.getElementById('render-errors'); if(el){el.textContent=errors.join('\\n');}
    document.body.setAttribute('data-rendered','error');}
  window.onerror=function(msg,src,line){report(msg+' ('+src+':'+line+')');};
  window.addEventListener('error',function(e){if(e.target&&e.target!==window){
    report('failed to load '+(e.target.src||e.target.href));}},true);
  function check(){
    try{
      var figs=document.querySelectorAll('figure[data-figure]'), ok=0;
      figs.forEach(function(fig){
        var svg=fig.querySelector('svg'), box=svg?svg.getBoundingClientRect():null;
        var marks=svg?svg.querySelectorAll('polyline,rect,circle').length:0;
        var good=box&&box.width>0&&box.height>0&&marks>0;
        fig.setAttribute('data-rendered',good?'ok':'empty'); if(good){ok++;}
      });
      var roc=document.querySelector('figure[data-figure=roc] svg'),
          data=JSON.parse(document.getElementById('report-data').textContent);
      if(roc&&data.roc.fpr){
        var out=document.getElementById('roc-readout');
        roc.addEventListener('mousemove',function(ev){
          var r=roc.getBoundingClientRect(), vb=roc.viewBox.baseVal;
          var x=(ev.clientX-r.left)*vb.width/r.width, f=(x-44)/(vb.width-56), best=0;
          for(var i=0;i<data.roc.fpr.length;i++){
            if(Math.abs(data.roc.fpr[i]-f)<Math.abs(data.roc.fpr[best]-f)){best=i;}}
          var t=data.roc.thresholds[best];
          out.textContent='threshold '+(t===null?'above every score':t.toFixed(3))+
            ': sensitivity '+data.roc.tpr[best].toFixed(3)+
            ', specificity '+(1-data.roc.fpr[best]).toFixed(3);
        });
      }
      document.body.setAttribute('data-figures-ok',String(ok));
      if(!errors.length){document.body.setAttribute('data-rendered',
        ok===figs.length?'ok':'incomplete');}
    }catch(e){report(e&&e.stack?e.stack:e);}
  }
  if(document.readyState==='loading'){document.addEventListener('DOMContentLoaded',check);}
  else{check();}
})();
"""


def _num(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}"


def _figure(name: str, svg: str, caption: str) -> str:
    return f'<figure data-figure="{escape(name)}">{svg}<figcaption>{caption}</figcaption></figure>'


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(
        f'<th class="name">{h}</th>' if i == 0 else f"<th>{h}</th>" for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="name">{c}</td>' if i == 0 else f"<td>{c}</td>" for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _run_section(d: ReportData) -> str:
    r = d.run
    started = (
        dt.datetime.fromtimestamp(r["started"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if r["started"]
        else "-"
    )
    blessed = {True: '<b class="ok">blessed</b>', False: '<b class="bad">not blessed</b>'}.get(
        r["blessed"], "no evaluation"
    )
    pushed = (
        f"pushed as version {escape(r['pushed_version'])} (<code>{escape(r['pushed_path'])}</code>)"
        if r["pushed_path"]
        else "nothing pushed"
    )
    steps = ", ".join(f"{escape(k)}: {escape(v)}" for k, v in r["executions"].items())
    took = f"{r['duration_s']:.0f} s" if r["duration_s"] is not None else "-"
    return (
        f'<h1>cyclecast run <span id="run-id">{escape(r["run_id"])}</span></h1>'
        f'<p class="meta">started {started}, took {took}; code '
        f"<code>{escape(str(r['git_commit'] or '-'))}</code>; "
        f"{escape(str(r['train_steps'] or '-'))} training steps. Model {blessed}, {pushed}.</p>"
        f'<p class="note">Components: {steps}</p>'
    )


def _comparison_section(d: ReportData) -> str:
    names = ("candidate", "baseline", "calendar rule")
    rows = []
    for label, values in d.comparison.items():
        cells = [escape(label)]
        for n in names:
            v = values[n]
            attr = f' data-value="{v!r}"' if v is not None else ""
            cells.append(
                f'<span data-metric="{escape(label)}" data-model="{n}"{attr}>{_num(v)}</span>'
            )
        rows.append(cells)
    table = _table(
        ["metric (eval split)", "candidate", "blessed baseline", "calendar rule"],
        rows,
        "comparison",
    )
    chart = sp.bar_chart(
        list(d.comparison),
        {n: [d.comparison[k][n] for k in d.comparison] for n in names},
        label="candidate vs blessed baseline vs calendar rule",
        y_label="value",
        colors=(sp.PALETTE[0], sp.PALETTE[2], sp.PALETTE[1]),
    )
    baseline_note = (
        "The blessed baseline is the latest model blessed before this run (none on a first run)."
    )
    return (
        "<h2>Candidate vs blessed baseline vs calendar rule</h2>"
        f"{table}<div class='figs'>"
        + _figure(
            "comparison",
            chart,
            "TFMA's metrics for the candidate and the blessed baseline at the decision "
            "threshold, and the calendar rule's day-level metrics, all on the eval split. "
            + baseline_note,
        )
        + "</div>"
    )


def _data_section(d: ReportData) -> str:
    parts = ["<h2>Data: statistics and anomalies</h2>"]
    if d.nights:
        parts.append(f'<p class="nights">Nights: {escape(d.nights)}.</p>')
    if d.drift:
        parts.append(f'<p class="drift">Drift against the previous night: {escape(d.drift)}.</p>')
    if d.examples:
        parts.append(
            "<p>Examples per split: "
            + ", ".join(f"{escape(k)} <b>{v}</b>" for k, v in d.examples.items())
            + ".</p>"
        )
    q = d.quarantine
    if q:
        reasons = []
        for key, title in (
            ("rows_rejected_by_reason", "rows rejected"),
            ("files_rejected_by_reason", "files rejected"),
            ("nights_invalid_by_reason", "invalid nights"),
        ):
            for reason, n in sorted((q.get(key) or {}).items()):
                reasons.append([escape(title), escape(reason), str(n)])
        parts.append(
            _table(["quarantined", "reason", "count"], reasons)
            if reasons
            else "<p>Nothing was quarantined.</p>"
        )
    # TFDV's own statistics view (display_util.get_statistics_html) loads Facets and its web
    # components from a CDN, so it shows nothing offline; these tables and histograms are drawn
    # from the same DatasetFeatureStatisticsList instead. The anomalies come from TFDV's own
    # get_anomalies_dataframe.
    for split, by_feature in d.anomalies.items():
        if by_feature:
            parts.append(
                f'<h3 class="bad">Anomalies in {escape(split)}</h3>'
                + _table(
                    ["feature", "what broke"],
                    [[escape(f), escape(what)] for f, what in by_feature.items()],
                    "anomalies",
                )
            )
    if d.anomalies and not any(d.anomalies.values()):
        parts.append(
            '<p class="ok anomalies-none">No anomalies: every split matched the curated schema '
            f"({', '.join(escape(s) for s in d.anomalies)}).</p>"
        )
    for i, (split, rows) in enumerate(d.statistics.items()):
        numeric = [
            [
                escape(r["feature"]),
                str(r["present"]),
                str(r["missing"]),
                _num(r["values_per_example"], 1),
                _num(r["mean"]),
                _num(r["std_dev"]),
                _num(r["min"]),
                _num(r["median"]),
                _num(r["max"]),
                sp.histogram(r["histogram"], label=f"{r['feature']} histogram"),
            ]
            for r in rows
            if r["kind"] == "numeric"
        ]
        strings = [
            [
                escape(r["feature"]),
                str(r["present"]),
                str(r["missing"]),
                str(r["unique"]),
                escape(", ".join(f"{v} ({n})" for v, n in r["top_values"])),
            ]
            for r in rows
            if r["kind"] == "string"
        ]
        parts.append(
            f'<details{" open" if i == 0 else ""} data-split="{escape(split)}">'
            f"<summary>Feature statistics: {escape(split)} split (TFDV)</summary>"
            + _table(
                [
                    "feature",
                    "examples",
                    "missing",
                    "values each",
                    "mean",
                    "std",
                    "min",
                    "median",
                    "max",
                    "histogram",
                ],
                numeric,
                "stats",
            )
            + _table(["feature", "examples", "missing", "unique", "top values"], strings, "stats")
            + "</details>"
        )
    return "".join(parts)


def _phase_section(d: ReportData) -> str:
    if not d.phases:
        return ""
    figs = []
    for name, boxes in d.phases.items():
        svg = sp.box_chart(
            {p: boxes[p] for p in PHASES},
            label=f"{name} by cycle phase",
            y_label=f"{name} - own median",
        )
        figs.append(_figure(f"phase-{name}", svg, f"<b>{escape(name)}</b> by cycle phase"))
    counts = ", ".join(f"{p} {n}" for p, n in d.phase_counts.items())
    return (
        "<h2>Nightly features by cycle phase</h2>"
        f'<p class="note">The {PHASE_SPLIT} split ({counts} nights). Each value is the night\'s '
        "statistic minus the same user's median, so that differences between people do not hide "
        f"the cycle. Menses: cycle days 1-{MENSES_DAYS}; fertile: the label (ovulation day and "
        "the 5 before); follicular and luteal: before and after the cycle's fertile nights. Boxes "
        "span the 25th to 75th percentile, whiskers the 10th to 90th, the bar is the median.</p>"
        f"<div class='figs'>{''.join(figs)}</div>"
    )


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


def _model_section(d: ReportData) -> str:
    if not d.roc:
        return ""
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
    keys = ("sensitivity", "specificity", "precision", "accuracy")
    table = _table(
        ["eval split, scored here", "nights", "AUC", *keys],
        [
            ["model", str(sc["nights"]), _num(sc["auc_rank"]), *(_num(m[k]) for k in keys)],
            ["calendar rule", str(sc["nights"]), "-", *(_num(cal[k]) for k in keys)],
        ],
        "scored",
    )
    tfma_auc = d.comparison["AUC"]["candidate"]
    return (
        "<h2>The candidate on the eval split</h2>"
        f'<p class="note">The trained model (<code>{escape(sc["model_dir"])}</code>) scored '
        f"here on the {sc['nights']} nights of the {sc['split']} split through its serving "
        "signature, as TF Serving would answer; the calendar rule on the same nights. "
        f"AUC from the plotted ROC points: <b id='auc-curve'>{_num(sc['auc_curve'])}</b> "
        f"(TFMA: {_num(tfma_auc)}; TFMA buckets scores at 10,000 thresholds, so scores closer "
        "than 0.0001, as many are near 0, tie there and the two can differ).</p>"
        f"{table}<div class='figs'>"
        + _figure(
            "roc",
            roc,
            "ROC curve over every distinct score; the dots are the model at its decision "
            "threshold and the calendar rule. <span id='roc-readout'></span>",
        )
        + _figure(
            "calibration",
            calib,
            f"Calibration: {CALIBRATION_BINS} equal-width probability bins (empty bins left out); "
            "on the diagonal, a predicted probability is the observed fertile fraction.",
        )
        + _figure(
            "by-cycle-day",
            by_day,
            "Sensitivity (fertile nights called fertile) and specificity (other nights called "
            "not fertile) on each cycle day; gaps where a day has no night of that kind.",
        )
        + "</div>"
    )


def render_report(d: ReportData) -> str:
    """The whole page: inline CSS, SVG and script; the figure data embedded as JSON."""
    payload = json.dumps(_clean(asdict(d)), sort_keys=True).replace("</", "<\\/")
    missing = (
        f'<p class="note">Not in this run: {", ".join(escape(m) for m in d.missing)} '
        "(the run stopped before, or did not produce, these artifacts).</p>"
        if d.missing
        else ""
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>cyclecast run {escape(d.run['run_id'])}</title><style>{_CSS}</style></head>"
        "<body data-rendered='pending'><main>"
        + _run_section(d)
        + missing
        + _comparison_section(d)
        + _model_section(d)
        + _phase_section(d)
        + _data_section(d)
        + '<pre id="render-errors"></pre>'
        + f'<script type="application/json" id="report-data">{payload}</script>'
        + f"<script>{_JS}</script></main></body></html>"
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
