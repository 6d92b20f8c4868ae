"""A user-facing error: printed as one line by the drivers, never as a traceback."""
import argparse
import contextlib
import sys


class UserError(Exception):
    """Bad input, a missing file or an impossible option combination; the message says what to do."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors (an unknown flag, a bad choice) keep the drivers' contract:
    one line ``error: ...`` and exit 2, not the whole usage block."""

    def error(self, message):
        print(f'error: {message} (python {self.prog} --help lists the flags)', file=sys.stderr)
        raise SystemExit(2)


def message_of(exc):
    """A UserError's one line. One raised in a DataLoader worker reaches the main process rebuilt as
    ``UserError('Caught UserError in DataLoader worker process 0.\\nOriginal Traceback ...')``, the
    worker's message on its last line: that line."""
    text = str(exc)
    if 'Original Traceback' in text:
        for line in reversed(text.splitlines()):
            head, sep, message = line.partition('UserError: ')
            if sep and head in ('', 'util.errors.'):
                return message
    return text


@contextlib.contextmanager
def exit_on_user_error():
    """For command-line entry points: a UserError becomes ``error: ...`` on stderr and exit code 2."""
    try:
        yield
    except UserError as exc:
        print(f'error: {message_of(exc)}', file=sys.stderr)
        raise SystemExit(2)
