"""One exception type for every user-facing failure, so the CLI can print one clear line and exit non-zero."""


class BenchError(ValueError):
    """A problem the user can fix (bad config, missing install, unknown name); never a bug."""


class MissingData(BenchError):
    """A data file or prepared split that is not there (yet): `validate` skips what it cannot reach, while
    a file that is there and broken is a plain BenchError everywhere."""


def did_you_mean(name: object, choices) -> str:
    """'; did you mean 'x'?' for the closest of `choices`, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
