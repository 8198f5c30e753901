"""One exception type for every user-facing failure, so the CLI can print one clear line and exit non-zero."""


class BenchError(ValueError):
    """A problem the user can fix (bad config, missing install, unknown name); never a bug."""


def did_you_mean(name: object, choices) -> str:
    """'; did you mean 'x'?' for the closest of `choices`, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
