"""Code that runs inside the pipeline's components."""

_ARTIFACTS = ("NightlyQuarantine", "BaselineMetrics", "DriftReport", "NightlyPredictions")


def __getattr__(name: str):
    """Expose the artifact classes as ``components.<Class>`` without importing TFX up front."""
    if name in _ARTIFACTS:
        from components import artifacts

        return getattr(artifacts, name)
    raise AttributeError(f"module 'components' has no attribute {name!r}")
