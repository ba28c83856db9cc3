"""Synthetic wearable data: cycle histories, nightly raw files with injected faults, ground truth.

Entry point: ``synthetic.generate.generate_dataset``.
"""

from synthetic.generate import FaultRates, GenerationSummary, generate_dataset

__all__ = ["FaultRates", "GenerationSummary", "generate_dataset"]
