"""l2s-bench: train, run and measure LLM-to-SLM (Bergner et al., arXiv 2402.16844) against its baselines."""

__version__ = "0.1.0"
