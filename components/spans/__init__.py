"""The span store: ingested nights (spans) indexed, the plan of what a run ingests, span dates.

``store`` (the index entries and the per-night layout of the files they name), ``plan`` (what a
nightly run or a backfill ingests, and the raw files' fingerprints) and ``dates`` (span numbers and
night ranges). Written by NightlyFeatureGen, read by TrainingWindow, DriftGate and the online path.
"""
