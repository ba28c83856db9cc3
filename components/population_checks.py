"""The night's population against the schema: how many of its nights fell outside a range.

A single user-night outside the schema's ranges is an invalid night (``transforms.night_ranges``),
quarantined at ingest; it never reaches the examples TFDV validates, so it cannot stop the fleet.
What is still a dataset-level problem is **many** nights out of range at once (a firmware batch
reporting a wrong unit, a broken sensor model): this check counts, per night and feature, the
nights the schema's range refused among the nights that passed every other night rule, and flags
a feature whose share is above the schema's limit.

Where the limit lives: ``schema/schema.pbtxt``, on the feature, as TFDV's own
``DistributionConstraints.min_domain_mass`` ("the minimum fraction of values that should come from
the feature's domain"), carried in the feature's ``annotation.extra_metadata``. Not as the
feature's ``distribution_constraints`` field itself: TFDV supports that only for string domains
and reports it on a float feature as an invalid schema ("distribution constraints not supported
for float domains", checked with TFDV 1.16); ``presence.min_fraction`` means something else (the
share of examples that have the feature at all). The annotation is ignored by TFDV, read here.
A feature without the annotation is not checked. One night alone never trips the check
(``MIN_OUT_OF_RANGE``): one user's odd upload is that user's invalid night, nothing more.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from transforms import features as fc
from transforms import night_ranges

# A feature is flagged only with at least this many nights out of its range on one night.
MIN_OUT_OF_RANGE = 2
# Where the run summary and the report list these findings beside ExampleValidator's splits.
POPULATION = "nights (population)"


@dataclass(frozen=True)
class RangeShare:
    """One night's share of nights outside one feature's range, beyond the schema's limit."""

    night: str
    feature: str
    out_of_range: int
    judged: int  # the nights that passed every other night rule
    max_share: float

    def what_broke(self) -> str:
        """What broke, without the feature's name (the anomaly tables' wording)."""
        return (
            f"outside the schema's range on {self.out_of_range} of {self.judged} nights of "
            f"{self.night} ({self.out_of_range / self.judged:.1%}), above the schema's limit "
            f"{self.max_share:.1%} (1 - min_domain_mass)"
        )

    def describe(self) -> str:
        """One line a person can act on."""
        return f"{self.feature}: {self.what_broke()}"


def max_out_of_range_shares(schema) -> dict[str, float]:
    """``{feature: largest share of nights outside its range}`` from the schema's annotations."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    limits = {}
    for feature in schema.feature:
        for extra in feature.annotation.extra_metadata:
            constraints = schema_pb2.DistributionConstraints()
            if extra.Is(constraints.DESCRIPTOR) and extra.Unpack(constraints):
                limits[feature.name] = 1.0 - constraints.min_domain_mass
    return limits


def range_shares(ledger: list[dict], limits: dict[str, float]) -> list[RangeShare]:
    """The night-and-feature pairs whose share of out-of-range nights is beyond its limit.

    ``ledger`` is the feature job's night ledger: a valid night carries ``features``; a night
    refused by the schema's range has ``invalid_reason`` ``night_ranges.OUT_OF_RANGE`` and the
    feature first in ``invalid_detail``.
    """
    judged: dict[str, int] = defaultdict(int)
    out: dict[tuple[str, str], int] = defaultdict(int)
    for entry in ledger:
        night = entry.get(fc.NIGHT_DATE)
        if night is None:
            continue
        if entry.get("invalid_reason") == night_ranges.OUT_OF_RANGE:
            judged[night] += 1
            out[night, night_ranges.feature_of(entry.get("invalid_detail") or "")] += 1
        elif "features" in entry:
            judged[night] += 1
    found = []
    for (night, feature), n in sorted(out.items()):
        limit = limits.get(feature)
        if limit is not None and n >= MIN_OUT_OF_RANGE and n / judged[night] > limit:
            found.append(RangeShare(night, feature, n, judged[night], limit))
    return found


def read_range_shares(quarantine_uri: str, schema_uri: str) -> list[RangeShare]:
    """``range_shares`` of a NightlyQuarantine artifact's ledger against a Schema artifact."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    from components.file_io import read_bytes, read_jsonl
    from components.quarantine_layout import NIGHT_LEDGER

    data = read_bytes(f"{schema_uri.rstrip('/')}/schema.pbtxt")
    if data is None:
        raise FileNotFoundError(f"no schema.pbtxt in {schema_uri}")
    schema = text_format.Parse(data.decode(), schema_pb2.Schema())
    ledger = read_jsonl(f"{quarantine_uri.rstrip('/')}/{NIGHT_LEDGER}-*.jsonl.gz")
    return range_shares(ledger, max_out_of_range_shares(schema))
