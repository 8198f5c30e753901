"""A stand-in third-party plugin: the target of the entry points in tests/test_registry.py."""


class ExtAdapter:
    """A model adapter that a separate package would ship and expose via an entry point."""
