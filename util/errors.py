"""A user-facing error: printed as one line by the drivers, never as a traceback."""


class UserError(Exception):
    """Bad input, a missing file or an impossible option combination; the message says what to do."""
