"""Energy-based models for the CD-k study: RBMs, conv EBMs, samplers, likelihoods, metrics. No Ray here."""

__version__ = "0.1.0"
