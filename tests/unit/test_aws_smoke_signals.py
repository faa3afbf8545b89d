"""smoke-aws's signal handling: signals become `Interrupted` during the run (so `with` blocks
clean up), are ignored during cleanup, and the previous handlers come back."""

from __future__ import annotations

import os
import signal

import pytest

from harness.aws_smoke import Interrupted, signals_ignored, signals_raise


@pytest.mark.parametrize(
    ("signum", "text"),
    [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT"),
     (signal.SIGALRM, "the run deadline (SIGALRM)")],
)
def test_a_signal_during_the_run_raises_interrupted(signum, text):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    with pytest.raises(Interrupted) as e, signals_raise():
        os.kill(os.getpid(), signum)
    assert (str(e.value), e.value.signum) == (text, signum)
    assert {s: signal.getsignal(s) for s in before} == before


def test_signals_during_cleanup_are_reported_not_obeyed():
    said: list[str] = []
    with signals_raise(deadline_s=3600), signals_ignored(said.append):
        assert signal.alarm(0) == 0  # cleanup cancelled the run deadline
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert said == ["SIGTERM ignored: cleaning up, please wait",
                    "SIGINT ignored: cleaning up, please wait"]
