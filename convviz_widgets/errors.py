"""The one exception type users see."""


class ConvVizError(ValueError):
    """A user-facing error: says what was wrong, what was expected and what came in."""
