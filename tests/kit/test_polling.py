"""The probes' wait (module_utils/polling.py), on a fake clock: no sleeping, no Docker."""

from __future__ import annotations

from ansible_collections.vedrun.kit.plugins.module_utils import polling


class Clock:
    def __init__(self, look_takes: float):
        self.now, self.look_takes = 0.0, look_takes

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def waiter(answers, clock):
    answers = iter(answers)

    def look():
        clock.now += clock.look_takes
        return next(answers)

    return look


def test_a_settled_first_answer_is_returned_without_waiting():
    clock = Clock(0.3)
    assert polling.until_settled(waiter(["ok"], clock), lambda a: a == "ok", 30, 1,
                                 clock.time, clock.sleep) == ("ok", 1, 0.3)


def test_it_looks_again_until_the_answer_settles():
    clock = Clock(0.5)
    answer = polling.until_settled(waiter(["down", "down", "ok", "never"], clock), lambda a: a == "ok",
                                   30, 2, clock.time, clock.sleep)
    assert answer == ("ok", 3, 5.5)


def test_it_gives_up_with_the_last_answer_and_never_starts_a_look_it_cannot_finish():
    clock = Clock(0.2)
    answer, attempts, waited = polling.until_settled(waiter(iter(lambda: "down", None), clock),
                                                     lambda a: a == "ok", 5, 1, clock.time, clock.sleep)
    assert (answer, attempts) == ("down", 5) and waited <= 5


def test_no_time_allowed_is_one_look():
    clock = Clock(0.1)
    assert polling.until_settled(waiter(["down", "ok"], clock), lambda a: a == "ok", 0, 1,
                                 clock.time, clock.sleep)[:2] == ("down", 1)
