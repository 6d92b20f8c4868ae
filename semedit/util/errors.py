"""A user-facing error: printed as one line by the drivers, never as a traceback."""
import argparse
import contextlib
import contextvars
import sys


class UserError(ValueError):
    """Bad input, a missing file or an impossible option combination; the message says what to do.
    A ValueError: the Python API raises it as ``semedit.InputError``."""


#: set inside ``usage_errors_raise``: what a usage error should say instead of exiting
_USAGE_HINT = contextvars.ContextVar('usage_hint', default=None)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors (an unknown flag, a bad choice) keep the drivers' contract:
    one line ``error: ...`` and exit 2, not the whole usage block; inside ``usage_errors_raise`` (the
    Python API, which never exits) a UserError instead."""

    def error(self, message):
        hint = _USAGE_HINT.get()
        if hint is not None:
            raise UserError(f'{message} ({hint})')
        print(f'error: {message} (python {self.prog} --help lists the flags)', file=sys.stderr)
        raise SystemExit(2)


@contextlib.contextmanager
def usage_errors_raise(hint):
    """Parsers' usage errors inside the block raise UserError('<message> (<hint>)')."""
    token = _USAGE_HINT.set(hint)
    try:
        yield
    finally:
        _USAGE_HINT.reset(token)


def message_of(exc):
    """A UserError's one line. One raised in a DataLoader worker reaches the main process rebuilt as
    ``UserError('Caught UserError in DataLoader worker process 0.\\nOriginal Traceback ...')``, the
    worker's message on its last line: that line."""
    text = str(exc)
    if 'Original Traceback' in text:
        for line in reversed(text.splitlines()):
            head, sep, message = line.partition('UserError: ')
            if sep and head in ('', 'semedit.util.errors.'):
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
