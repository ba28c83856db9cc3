"""cyclecast's own artifact types.

Kubeflow v2 recovers a custom artifact's class by importing its type name, which must look like
``module.ClassName``; the names are therefore ``components.<Class>``, and ``components`` exposes
these classes lazily (``components/__init__.py``) so that importing it stays cheap.
"""

from tfx import types


class NightlyQuarantine(types.Artifact):
    """What the feature job rejected, counted by reason, and a ledger of every night."""

    TYPE_NAME = "components.NightlyQuarantine"


class BaselineMetrics(types.Artifact):
    """Day-level metrics of a rule-based baseline on one split."""

    TYPE_NAME = "components.BaselineMetrics"


class DriftReport(types.Artifact):
    """The new night's statistics against the previous night's: distances and the outcome."""

    TYPE_NAME = "components.DriftReport"


class NightlyPredictions(types.Artifact):
    """One prediction per scored user-night, and the count of user-nights not scored and why."""

    TYPE_NAME = "components.NightlyPredictions"
