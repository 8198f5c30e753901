"""l2s-bench: train, run and measure LLM-to-SLM (Bergner et al., arXiv 2402.16844) against its baselines."""

__version__ = "0.1.0"
__all__ = ["evaluate", "run", "__version__"]


def __getattr__(name: str):
    """`l2s_bench.evaluate` and `l2s_bench.run` (`l2s_bench.api`), imported on first use so that
    `import l2s_bench` and the CLI's start stay light."""
    if name in ("evaluate", "run"):
        from l2s_bench import api

        return getattr(api, name)
    raise AttributeError(f"module 'l2s_bench' has no attribute {name!r}")
