"""Ctrl-C in train.py: the first one lets the iteration under way finish (the checkpoint saved on
the way out is a whole iteration's state), the second one stops at once."""
import os
import signal

import pytest

from semedit.util.interrupt import StopAfterIteration


def test_first_ctrl_c_is_a_request_the_second_stops_at_once(capsys):
    before = signal.getsignal(signal.SIGINT)
    with StopAfterIteration() as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode: no exception here
        assert stop.requested()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # give the interpreter a few bytecodes to run the handler
                pass
    assert signal.getsignal(signal.SIGINT) is before
    assert 'stopping after this iteration' in capsys.readouterr().out
