"""The files inside a NightlyQuarantine artifact: names the feature job writes and readers find.

A module of constants only, so readers (DriftGate, run summaries) import the layout without the
feature job's code, and their code fingerprints don't move when the job's code does.
"""

# Relative to the quarantine directory; each a prefix of gzip JSON-lines shards.
REJECTED_ROWS = "rejected_rows"
REJECTED_FILES = "rejected_files"
REJECTED_CYCLES = "rejected_cycle_rows"
NIGHT_LEDGER = "nights"
SUMMARY_FILE = "summary.json"
