"""A user-facing error: printed as one line by the drivers, never as a traceback."""
import contextlib
import sys


class UserError(Exception):
    """Bad input, a missing file or an impossible option combination; the message says what to do."""


@contextlib.contextmanager
def exit_on_user_error():
    """For command-line entry points: a UserError becomes ``error: ...`` on stderr and exit code 2."""
    try:
        yield
    except UserError as exc:
        print(f'error: {exc}', file=sys.stderr)
        raise SystemExit(2)
