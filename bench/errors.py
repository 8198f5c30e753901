"""One exception type for every user-facing failure, so the CLI can print one clear line and exit non-zero."""


class BenchError(ValueError):
    """A problem the user can fix (bad config, missing install, unknown name); never a bug."""
