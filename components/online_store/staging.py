"""The Beam job's part of the online store: stage each night's rows and the cycle rows.

Applied by ``nightly_features.ingest`` to the feature job's outputs, so the rows are written by the
runner's workers (in parallel on Dataflow, Flink or Spark), under the run's id: nothing staged is
visible to a reader until ``ingest`` publishes the night, after its span-store entry commits.
"""

from __future__ import annotations

import apache_beam as beam

from components.nightly_features.beam_job import CYCLE_LINES
from components.nightly_features.feature_outputs import quarantine_line
from components.online_store.base import join_cycle_lines
from components.quarantine_layout import NIGHTLY_STATS
from transforms import features as fc

MIN_BATCH, MAX_BATCH = 256, 5000


class _StageFn(beam.DoFn):
    """Write batches of rows into the store's staging area (one connection per worker)."""

    def __init__(self, url: str, run: str, what: str):
        self._url, self._run, self._what = url, run, what
        self._store = None

    def setup(self):
        from components.online_store import open_store

        self._store = open_store(self._url)

    def process(self, batch):
        if self._what == "nights":
            self._store.stage_nights(self._run, batch)
        else:
            self._store.stage_cycles(self._run, batch)
        beam.metrics.Metrics.counter("cyclecast", f"online_staged_{self._what}").inc(len(batch))

    def teardown(self):
        if self._store is not None:
            self._store.close()


class StageOnlineRows(beam.PTransform):
    """The job's outputs -> staged rows: each night's statistics lines, each user's cycle rows.

    A statistics line is written as the span store's file holds it (``quarantine_line``).
    """

    def __init__(self, url: str, run: str):
        super().__init__()
        self._url, self._run = url, run

    def expand(self, outputs):
        """Stage the statistics lines and the grouped cycle lines; returns nothing to use."""
        url, run = self._url, self._run
        _ = (
            outputs[NIGHTLY_STATS]
            | "OnlineStatsRows"
            >> beam.Map(lambda d: (d[fc.NIGHT_DATE], d[fc.USER_KEY], quarantine_line(d)))
            | "BatchStatsRows" >> beam.BatchElements(MIN_BATCH, MAX_BATCH)
            | "StageStatsRows" >> beam.ParDo(_StageFn(url, run, "nights"))
        )
        _ = (
            outputs[CYCLE_LINES]
            | "CyclesByUser" >> beam.GroupByKey()
            | "JoinCycleLines" >> beam.MapTuple(lambda key, lines: (key, join_cycle_lines(lines)))
            | "BatchCycleRows" >> beam.BatchElements(MIN_BATCH, MAX_BATCH)
            | "StageCycleRows" >> beam.ParDo(_StageFn(url, run, "cycles"))
        )
        return None  # the staged rows are side effects the ingest publishes
