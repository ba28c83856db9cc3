"""``cyclecast skew``: serving requests checked against the schema and the training statistics.

The request log holds the tf.Examples the app sent (``cyclecast predict --log-requests``). Their
statistics are validated against the schema's SERVING environment (types, presence, ranges), and
compared with the training statistics by the skew comparators declared in ``schema/schema.pbtxt``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.anomaly_wording import anomaly_descriptions
from transforms.serving_request import DEFAULT_SCHEMA


@dataclass
class SkewReport:
    """Anomalies found, as ``{feature: description}``, and the number of requests checked."""

    requests: int
    anomalies: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing was flagged."""
        return not self.anomalies

    def format(self) -> str:
        """Render for a person."""
        if self.ok:
            return f"{self.requests} requests: no anomaly, no skew against the training data"
        lines = [f"{self.requests} requests: {len(self.anomalies)} feature(s) flagged"]
        lines += [f"  {name}: {text}" for name, text in sorted(self.anomalies.items())]
        return "\n".join(lines)


def load_statistics(path: str):
    """Read statistics written by StatisticsGen (binary ``FeatureStats.pb``) or TFDV text/binary."""
    import tensorflow_data_validation as tfdv

    if path.endswith(".pbtxt"):
        return tfdv.load_stats_text(path)
    return tfdv.load_stats_binary(path)


def check_serving_skew(
    requests_pattern: str, baseline_stats_path: str, schema_path: str = str(DEFAULT_SCHEMA)
) -> SkewReport:
    """Validate logged requests against the SERVING schema and the training statistics."""
    import tensorflow_data_validation as tfdv

    schema = tfdv.load_schema_text(schema_path)
    baseline = load_statistics(baseline_stats_path)
    served = tfdv.generate_statistics_from_tfrecord(data_location=requests_pattern)
    requests = int(served.datasets[0].num_examples) if served.datasets else 0
    if requests == 0:
        raise FileNotFoundError(f"no logged requests match {requests_pattern}")
    served_anomalies = tfdv.validate_statistics(served, schema, environment="SERVING")
    anomalies = anomaly_descriptions(served_anomalies)
    skew = tfdv.validate_statistics(
        baseline, schema, environment="TRAINING", serving_statistics=served
    )
    for name, text in anomaly_descriptions(skew).items():
        anomalies[name] = f"{anomalies[name]}; {text}" if name in anomalies else text
    return SkewReport(requests=requests, anomalies=anomalies)
