"""Defaults a component and the pipeline's configuration share: one home each.

The components' parameters and ``pipeline.config`` both take their defaults from here. Nothing is
imported, so the configuration (and the command line that reads it) stays light.
"""

# The training window: the nights of the span store the model trains on, ending with the new
# night. NightlyFeatureGen keeps every night of it ingested; TrainingWindow gathers it.
WINDOW_NIGHTS = 365
# How many nights back a nightly run looks for late or re-sent uploads to re-ingest.
LATE_NIGHTS = 7
# DriftGate: fewer valid nights than this on either night compared: too few to compare.
DRIFT_MIN_NIGHTS = 40
