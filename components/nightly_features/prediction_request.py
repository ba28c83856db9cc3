"""A night's prediction request, from its outcome, the stored history and the cycle log.

Pure and Beam-free: the feature job (``beam_job``) and the online path
(``pipeline.serving.online``) both parse stored statistics with ``stored_history``, build requests
with ``user_history.build_user_examples`` and serialise them with ``serialize_request``, so a
request built online from one upload is byte-identical to the one the batch path wrote for that
user-night (``tests/e2e/test_online_path.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from components.nightly_features.records import CycleRow, NightOutcome
from components.nightly_features.user_history import build_user_examples
from transforms import features as fc


@dataclass
class NightRequest:
    """A scored night's request: its features and its serialized tf.Example."""

    user_key: str
    night: str
    features: dict[str, list]
    serialized: bytes


class CannotScore(ValueError):
    """The night gets no request; ``reason`` is a ``user_history.NotScored`` reason."""

    def __init__(self, night: str, reason: str):
        super().__init__(f"the night {night} can't be scored: {reason}")
        self.reason = reason


def stored_history(line: str) -> tuple[str, NightOutcome]:
    """A stored nightly-statistics record as a valid night of history, keyed by the pseudonym."""
    record = json.loads(line)
    night = NightOutcome("", None, record[fc.NIGHT_DATE], valid=True, stored=True)
    night.features = record["features"]
    return record[fc.USER_KEY], night


def serialize_request(request: dict[str, list]) -> bytes:
    """A request's features as the tf.Example the batch path writes (``features.request_spec``)."""
    from transforms.tf_example import to_serialized_example

    return to_serialized_example(request, fc.request_spec())


def night_request(
    user_id: str,
    user_key: str,
    tonight: NightOutcome,
    history: list[NightOutcome],
    cycles: list[CycleRow],
) -> NightRequest:
    """Tonight's request from her upload's outcome, her stored history and her cycle rows.

    Raises ``CannotScore`` with the reason the batch path records when the night gets none.
    """
    night = tonight.night_date
    result = build_user_examples(user_id, [tonight, *history], cycles, user_key)
    requests = [r for r in result.requests if r[fc.NIGHT_DATE][0].decode() == night]
    if not requests:
        raise CannotScore(night, result.not_scored.get(night, "not scored"))
    return NightRequest(user_key, night, requests[0], serialize_request(requests[0]))
