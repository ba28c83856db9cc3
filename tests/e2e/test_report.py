"""`cyclecast report` on real pipeline runs: figure data against the run's own numbers, and the
page in Chromium.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

FIGURES = {"comparison", "roc", "calibration", "by-cycle-day"} | {
    f"phase-{name}"
    for name in (
        "skin_temp",
        "heart_rate",
        "heart_rate_p10",
        "hrv_rmssd",
        "breathing_rate",
        "perfusion",
    )
}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--virtual-time-budget=10000",
]


def page_data(html: str) -> dict:
    found = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S
    )
    assert found, "the page embeds its figure data"
    return json.loads(found.group(1).replace("<\\/", "</"))


def chromium(page: Path, tmp_path: Path, *mode: str) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium")
    assert exe, "chromium is missing: the chromium_browser fixture installs Debian's package"
    return subprocess.run(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *mode, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


def tfma_auc_bounds(d: dict, thresholds: int = 10_000) -> tuple[float, float]:
    """The AUC from the page's ROC points when scores are bucketed at TFMA's thresholds.

    Pairs of a fertile and another night whose scores share a bucket count 0 (lower) or 1
    (upper); TFMA's interpolated AUC lies between.
    """
    fertile = sum(r["fertile_nights"] for r in d["by_cycle_day"])
    other = sum(r["other_nights"] for r in d["by_cycle_day"])
    roc = d["roc"]
    pos = np.diff(roc["tpr"]) * fertile  # nights at each plotted threshold
    neg = np.diff(roc["fpr"]) * other
    bucket = np.floor(np.array(roc["thresholds"][1:], float) * (thresholds - 1)).astype(int)
    keys = np.unique(bucket)
    pos_b = np.array([pos[bucket == k].sum() for k in keys])
    neg_b = np.array([neg[bucket == k].sum() for k in keys])
    lower = (pos_b * (np.cumsum(neg_b) - neg_b)).sum() / (fertile * other)
    return lower, lower + (pos_b * neg_b).sum() / (fertile * other)


@pytest.fixture(scope="module")
def reports(pipeline_runs, tmp_path_factory):
    """Reports of the first run (by id) and of the latest run (the worse candidate, by default)."""
    from pipeline.cli import main

    cfg, first, _, worse = pipeline_runs
    out = tmp_path_factory.mktemp("reports")
    first_page = out / "first.html"
    assert (
        main(["report", first.run_id, "--out", str(first_page), "--metadata", cfg.metadata_path])
        == 0
    )
    with contextlib.chdir(out):  # the default --out is under the working directory's .cyclecast
        assert main(["report", "--metadata", cfg.metadata_path]) == 0
    latest = out / ".cyclecast" / "reports" / f"{worse.run_id.replace(':', '-')}.html"
    assert latest.is_file()
    return {"first": (first, first_page), "worse": (worse, latest)}


@pytest.mark.e2e
def test_metrics_on_the_page_are_the_run_summarys(reports):
    from pipeline.runs.figures import COMPARED

    for run, page in reports.values():
        html = page.read_text()
        assert f'<span id="run-id">{run.run_id}</span>' in html
        shown = {
            (m, who): float(v)
            for m, who, v in re.findall(
                r'data-metric="([^"]+)" data-model="([^"]+)" data-value="([^"]+)"', html
            )
        }
        for label, model_key, calendar_key in COMPARED:
            assert shown[(label, "candidate")] == run.candidate[model_key]
            assert f">{run.candidate[model_key]:.3f}</span>" in html
            if calendar_key:
                assert shown[(label, "calendar rule")] == run.calendar[calendar_key]
            if run.baseline:
                assert shown[(label, "baseline")] == run.baseline[model_key]
            else:
                assert (label, "baseline") not in shown
    first, worse = reports["first"][0], reports["worse"][0]
    assert not first.baseline and worse.baseline  # the worse run is compared with the first
    assert "not blessed" in reports["worse"][1].read_text()
    assert f"pushed as version {first.pushed_version}" in reports["first"][1].read_text()
    # the nights the examples cover and the drift outcome, as `runs show` prints them
    from markupsafe import escape  # the page's own escaping (jinja2's autoescape)

    from pipeline.runs.summary import drift_line, nights_line

    page = reports["first"][1].read_text()
    assert f"Nights: {escape(nights_line(first.data))}." in page
    assert f"Drift against the previous night: {escape(drift_line(first.drift))}." in page
    assert first.data["last_night"] and first.drift["status"] == "not_checked"


@pytest.mark.e2e
def test_figure_data_agree_with_tfma_and_the_calendar_baseline(reports):
    from pipeline.runs.figures import PHASES

    for run, page in reports.values():
        d = page_data(page.read_text())
        nights = run.examples["eval"]
        assert d["scored"]["nights"] == nights
        # ROC: the area under the plotted points is the exact (rank) AUC of the model's scores,
        # and TFMA's AUC lies where its 10,000 threshold buckets allow (pairs tied in a bucket)
        fpr, tpr = np.array(d["roc"]["fpr"]), np.array(d["roc"]["tpr"])
        area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        assert area == pytest.approx(d["scored"]["auc_rank"], abs=1e-9)
        lower, upper = tfma_auc_bounds(d)
        assert lower - 1e-3 <= run.candidate["auc"] <= upper + 1e-3
        assert upper - lower < 0.1  # only near-equal scores tie there
        # calibration bins: every night once; TFMA's calibration is mean prediction / mean label
        bins = [b for b in d["calibration"] if b["count"]]
        assert sum(b["count"] for b in bins) == nights
        predicted = sum(b["count"] * b["mean_predicted"] for b in bins)
        observed = sum(b["count"] * b["observed"] for b in bins)
        assert predicted / observed == pytest.approx(run.candidate["calibration"], rel=2e-3)
        # by cycle day: the nights add up, and the day rates pool to the overall rates
        days = d["by_cycle_day"]
        fertile = np.array([r["fertile_nights"] for r in days])
        other = np.array([r["other_nights"] for r in days])
        assert fertile.sum() + other.sum() == nights
        for who, overall in (("calendar rule", run.calendar), ("model", run.candidate)):
            sens = np.array([r[who]["sensitivity"] or 0.0 for r in days])
            spec = np.array([r[who]["specificity"] or 0.0 for r in days])
            recall_key = "sensitivity" if who == "calendar rule" else "recall"
            assert (sens * fertile).sum() / fertile.sum() == pytest.approx(
                overall[recall_key], abs=2e-3
            )
            assert (spec * other).sum() / other.sum() == pytest.approx(
                overall["specificity"], abs=2e-3
            )
        # the fertile window sits mid-cycle: no fertile night on cycle days 1-3
        assert all(r["fertile_nights"] == 0 for r in days if r["day"] <= 3)
        # phases: each has nights, and the temperature rises after ovulation (docs/DOMAIN.md)
        assert all(d["phase_counts"][p] > 0 for p in PHASES)
        assert sum(d["phase_counts"].values()) <= run.examples["train"]
        temp = d["phases"]["skin_temp"]
        assert temp["luteal"][2] > temp["follicular"][2] + 0.1
        # statistics of every split, from TFDV: the label's count is the split's example count
        for split, n in run.examples.items():
            label = next(r for r in d["statistics"][split] if r["feature"] == "fertile")
            assert label["present"] == n and sum(label["histogram"]) == pytest.approx(n)
        assert d["anomalies"] == {s: {} for s in run.examples} and not d["missing"]
        assert 'class="ok anomalies-none"' in page.read_text()


@pytest.mark.e2e
@pytest.mark.usefixtures("chromium_browser")
def test_page_is_self_contained_and_renders_every_figure_in_chromium(reports, tmp_path):
    from PIL import Image

    _, page = reports["first"]
    html = page.read_text()
    # nothing is fetched: no src/href attributes, no CSS url(), no import
    assert not re.search(r"\b(src|href)\s*=|url\(|@import", html)
    assert set(re.findall(r"https?://[^\s\"'<)]+", html)) <= {"http://www.w3.org/2000/svg"}

    dom = chromium(page, tmp_path, "--dump-dom").stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    errors = re.search(r'<pre id="render-errors">(.*?)</pre>', dom, re.S).group(1)
    assert errors == "" and 'data-rendered="ok"' in body, (body, errors)
    rendered = dict(re.findall(r'<figure data-figure="([^"]+)" data-rendered="([^"]+)"', dom))
    assert rendered == {name: "ok" for name in FIGURES}
    assert f'data-figures-ok="{len(FIGURES)}"' in body
    roc = re.search(r'<figure data-figure="roc".*?</figure>', dom, re.S).group(0)
    points = re.search(r'<polyline data-series="model" points="([^"]+)"', roc).group(1).split()
    assert len(points) == len(page_data(html)["roc"]["fpr"])  # every ROC point is drawn

    shot = tmp_path / "report.png"
    chromium(page, tmp_path, "--window-size=1280,4000", f"--screenshot={shot}")
    image = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert image.shape[:2] == (4000, 1280)
    figure_colors = np.all(np.abs(image - [31, 119, 180]) < 30, axis=2)  # the candidate's blue
    assert figure_colors.sum() > 2000  # bars, the ROC and calibration curves are painted


@pytest.mark.e2e
@pytest.mark.usefixtures("chromium_browser")
def test_the_browser_check_catches_script_errors(reports, tmp_path):
    """The marker the test relies on does turn red: a page with a failing script says so."""
    _, page = reports["first"]
    broken = tmp_path / "broken.html"
    broken.write_text(
        page.read_text().replace("</main>", "<script>no_such_function();</script></main>")
    )
    dom = chromium(broken, tmp_path, "--dump-dom").stdout
    assert 'data-rendered="error"' in dom
    assert "no_such_function" in re.search(r'<pre id="render-errors">(.*?)</pre>', dom, re.S).group(
        1
    )


@pytest.mark.e2e
def test_report_of_an_unknown_run_is_a_clear_error(pipeline_runs, tmp_path, capsys):
    from pipeline.cli import main

    cfg = pipeline_runs[0]
    assert (
        main(
            [
                "report",
                "no-such-run",
                "--out",
                str(tmp_path / "x.html"),
                "--metadata",
                cfg.metadata_path,
            ]
        )
        == 2
    )
    assert "no run matching 'no-such-run'" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
