"""The one error type the CLI turns into a one-line message and a non-zero exit."""


class PaystreamError(Exception):
    """A failure the user can act on; its message is one line that says what to do."""
