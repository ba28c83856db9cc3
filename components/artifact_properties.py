"""The custom properties cyclecast stamps on its artifacts: one spelling for writers and readers.

NightlyFeatureGen stamps its Examples, requests and quarantine with the nights they hold, and
TrainingWindow its window; DriftGate and NightlyPredictions read tonight's night from
``LAST_NIGHT_PROPERTY``, and the run summary reads them all back from ML Metadata. Nothing is
imported here, so the readers on the command line stay light.
"""

FIRST_NIGHT_PROPERTY = "first_night"
LAST_NIGHT_PROPERTY = "last_night"
NIGHTS_INGESTED_PROPERTY = "nights_ingested"
