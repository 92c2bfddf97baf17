"""memory_probe's read of Docker's events: a stand-in `docker` on PATH (a script in tmp_path that
keeps its argv and prints two events) instead of the engine, which cannot be asked to hold an
event back; the lab tests (tests/test_kit_memory_probe_lab.py) read real events of real deaths."""

from __future__ import annotations

import json
import os
import time

from ansible_collections.vedrun.kit.plugins.modules import memory_probe

EVENTS = [
    {"Action": "oom", "timeNano": 1_700_000_000_100_000_000, "Actor": {"ID": "a" * 64}},
    {"Action": "die", "timeNano": 1_700_000_000_200_000_000,
     "Actor": {"ID": "a" * 64, "Attributes": {"exitCode": "137", "com.example.token": "s3cret"}}},
]


def _stand_in(tmp_path, monkeypatch):
    argv_file = tmp_path / "argv.json"
    script = tmp_path / "docker"
    lines = "\n".join(json.dumps(e) for e in EVENTS)
    script.write_text("#!/usr/bin/env python3\nimport json, sys\n"
                      f"json.dump(sys.argv[1:], open({str(argv_file)!r}, 'w'))\n"
                      f"print({lines!r})\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return argv_file


def test_events_are_asked_up_to_now_and_a_quarter_second_not_the_next_whole_second(tmp_path, monkeypatch):
    argv_file = _stand_in(tmp_path, monkeypatch)
    now = time.time()
    found = memory_probe.events("api", now - 900, now)
    argv = json.loads(argv_file.read_text())
    since, until = float(argv[argv.index("--since") + 1]), float(argv[argv.index("--until") + 1])
    assert abs(since - (now - 900)) < 0.01
    # a --until in the future makes `docker events` wait until then: a quarter second, for the
    # daemon to write a death's event, not up to a whole second
    assert 0.2 <= until - now <= memory_probe.EVENTS_MARGIN_SECONDS + 0.01
    assert [(e["action"], e["exit_code"]) for e in found] == [("oom", 0), ("die", 137)]
    assert "s3cret" not in json.dumps(found)  # attributes other than exit code and signal are left
