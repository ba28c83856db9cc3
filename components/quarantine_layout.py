"""The files inside a NightlyQuarantine artifact: names the feature job writes and readers find.

A module of constants only, so readers (DriftGate, run summaries, the span store) import the layout
without the feature job's code, and their code fingerprints don't move when the job's code does.
"""

# Relative to the quarantine directory; each written per night as ``<name>-<night>.jsonl.gz``
# (gzip JSON lines, sorted), ``<name>-undated.jsonl.gz`` for what has no night.
REJECTED_ROWS = "rejected_rows"
REJECTED_FILES = "rejected_files"
REJECTED_CYCLES = "rejected_cycle_rows"
NIGHT_LEDGER = "nights"
# The stored nightly statistics: one record per user-night with a valid night (the user's
# pseudonym, the night and its statistics). Later nights read their history features from these.
NIGHTLY_STATS = "nightly_stats"
# The user-nights that get no prediction request, with the reason (user_history.NotScored).
NOT_SCORED = "not_scored"
SUMMARY_FILE = "summary.json"
PLAN_FILE = "plan.json"  # which nights the run ingested and why
UNDATED = "undated"


def night_file(name: str, night: str | None) -> str:
    """The file one night's output ``name`` is written to."""
    return f"{name}-{night or UNDATED}.jsonl.gz"
