"""The pty of an ended ansible-playbook closes without ptyprocess's tenth of a second; a live
process is still stopped the way ptyprocess stops it. Real processes on real ptys, no Docker."""

from __future__ import annotations

import time

import pexpect
import ptyprocess.ptyprocess as ptymodule
import pytest

from vedrun.playbook_process import closing_ended_ptys_at_once


@pytest.fixture
def sleeps(monkeypatch):
    """Every sleep ptyprocess asks for, recorded (and still slept)."""
    asked: list[float] = []
    real = time.sleep

    def sleep(seconds):
        asked.append(seconds)
        real(seconds)

    monkeypatch.setattr(ptymodule.time, "sleep", sleep)
    return asked


def _ended(command: str) -> pexpect.spawn:
    child = pexpect.spawn(command, encoding="utf-8")
    child.expect(pexpect.EOF, timeout=10)
    deadline = time.monotonic() + 10
    while child.isalive():  # as ansible-runner's loop: it closes only once this says no
        assert time.monotonic() < deadline, f"{command} did not end"
        time.sleep(0.01)
    return child


def test_an_ended_process_closes_without_the_sleep(sleeps):
    child = _ended("true")
    with closing_ended_ptys_at_once():
        child.close()
    assert child.closed and child.exitstatus == 0
    assert 0.1 not in sleeps, sleeps


def test_without_it_ptyprocess_sleeps(sleeps):
    """The cost it takes away, so that the test above can fail."""
    child = _ended("true")
    child.close()
    assert 0.1 in sleeps


def test_a_live_process_is_still_stopped(sleeps):
    child = pexpect.spawn("sleep 60", encoding="utf-8")
    with closing_ended_ptys_at_once():
        child.close()
    assert not child.isalive()
    assert child.signalstatus is not None  # stopped by a signal, not ended by itself
    assert 0.1 in sleeps  # the kernel's time to act on the hang-up, kept for a live process


def test_the_original_close_is_back_after_the_run():
    original = ptymodule.PtyProcess.close
    with closing_ended_ptys_at_once():
        assert ptymodule.PtyProcess.close is not original
    assert ptymodule.PtyProcess.close is original
