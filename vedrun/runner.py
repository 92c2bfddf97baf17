"""One class that runs a playbook through ansible-runner and reads its events.

The event handler is the hot path: it only records (phase times, per-host counts, the faults
and health reports a runbook publishes with set_stats) and scrubs secrets. It never parses
stdout: everything comes from ansible-runner's structured events.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vedrun import yamltext
from vedrun.interrupts import Interrupts
from vedrun.playbook_process import close_ssh_masters, closing_ended_ptys_at_once, first_call_runs
from vedrun.scrub import Scrubber
from vedrun.timeutil import from_iso, iso, now

PHASES = ("detect", "mitigate", "resolve", "verify")
_COUNTERS = ("ok", "changed", "failed", "unreachable", "skipped")


def playbook_phases(playbook: Path, _seen: set[Path] | None = None) -> list[tuple[str, str | None]]:
    """(play name, phase) for each play in order, following import_playbook. A play's phase
    is the first of its tags that is a phase, else the word before ' | ' in its name."""
    seen = _seen or set()
    if playbook in seen or not playbook.is_file():
        return []
    seen.add(playbook)
    plays: list[tuple[str, str | None]] = []
    for entry in yamltext.safe_load(playbook.read_text(encoding="utf-8")) or []:
        if not isinstance(entry, dict):
            continue
        imported = entry.get("ansible.builtin.import_playbook") or entry.get("import_playbook")
        if imported:
            if "{{" not in str(imported):
                plays += playbook_phases((playbook.parent / imported).resolve(), seen)
            continue
        name = str(entry.get("name", ""))
        tags = entry.get("tags") or []
        tags = [tags] if isinstance(tags, str) else tags
        plays.append((name, next((t for t in tags if t in PHASES), None) or _phase_of_name(name)))
    return plays


def _phase_of_name(name: str) -> str | None:
    word = name.split("|", 1)[0].strip().lower()
    return word if word in PHASES else None


# set_stats keys the recorder reads itself; every other `vedrun_*` key a playbook publishes as
# {host: data} is kept as it is in RunState.results (backups, restores, listings, ...).
DEDICATED_KEYS = frozenset({"vedrun_faults", "vedrun_health", "vedrun_health_passed",
                            "vedrun_placeholder", "vedrun_confirmations"})


@dataclass
class HostCounts:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


@dataclass
class RunState:
    """What the events have told so far; the live view reads it, the engine keeps it."""

    started_at: str = field(default_factory=lambda: iso(now()))
    phase: str | None = None
    phases: dict[str, dict[str, str | None]] = field(default_factory=dict)
    hosts: dict[str, HostCounts] = field(default_factory=dict)
    faults: dict[str, list[str]] = field(default_factory=dict)
    health: dict[str, dict] = field(default_factory=dict)
    health_passed: list[tuple[str, str, str | None]] = field(default_factory=list)  # host, at, phase
    unreachable: dict[str, str] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    placeholder: bool = False
    # questions a runbook stopped on (host -> variable, question): a destructive step to confirm
    confirmations: dict[str, dict] = field(default_factory=dict)
    # every other vedrun_* key a playbook published (vedrun_backups, ...): key -> host -> data
    results: dict[str, dict] = field(default_factory=dict)
    # what changed (in check mode: what would change), in order: (host, task name, item labels)
    changes: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    task: str = ""
    finished: bool = False

    def counts(self, host: str) -> HostCounts:
        return self.hosts.setdefault(host, HostCounts())


@dataclass
class RunResult:
    rc: int | None
    status: str  # successful | failed | canceled | timeout | error
    state: RunState
    artifacts_dir: Path
    canceled: bool = False
    signal_name: str | None = None


class EventRecorder:
    """ansible-runner's event_handler: record and scrub, then let runner write the event."""

    def __init__(self, plays: list[tuple[str, str | None]], scrubber: Scrubber,
                 stdout_path: Path, on_change: Callable[[RunState], None] | None = None):
        self.state = RunState()
        self._plays = plays
        self._next_play = 0
        self._scrubber = scrubber
        self._stdout = stdout_path.open("a", encoding="utf-8")
        os.chmod(stdout_path, 0o600)
        self._on_change = on_change
        self._lock = threading.Lock()

    def __call__(self, event: dict) -> bool:
        with self._lock:
            self._scrubber.data(event)
            text = event.get("stdout")
            if text:
                self._stdout.write(text + "\n")
            handler = getattr(self, "_on_" + str(event.get("event")), None)
            if handler is not None:
                handler(event, event.get("event_data") or {}, _stamp(event))
                if self._on_change is not None:
                    self._on_change(self.state)
        return True  # ansible-runner writes the (now scrubbed) event to job_events/

    def close(self) -> None:
        self._stdout.close()

    # -- events ------------------------------------------------------------------------
    def _on_playbook_on_play_start(self, event, data, at):
        name = str(data.get("play") or data.get("name") or "")
        phase = None
        for index in range(self._next_play, len(self._plays)):
            if self._plays[index][0] == name:
                phase, self._next_play = self._plays[index][1], index + 1
                break
        phase = phase or _phase_of_name(name) or self.state.phase
        self._enter(phase, at)

    def _enter(self, phase: str | None, at: str) -> None:
        if phase == self.state.phase:
            return
        if self.state.phase is not None:
            self.state.phases[self.state.phase]["ended_at"] = at
        if phase is not None:
            span = self.state.phases.setdefault(phase, {"started_at": at, "ended_at": None})
            span["ended_at"] = None
        self.state.phase = phase

    def _on_playbook_on_task_start(self, event, data, at):
        self.state.task = str(data.get("task") or data.get("name") or "")

    def _on_runner_on_ok(self, event, data, at):
        host = str(data.get("host"))
        counts = self.state.counts(host)
        result = data.get("res") or {}
        if result.get("changed"):
            counts.changed += 1
            items = tuple(str(item.get("_ansible_item_label", item.get("item", "")))[:120]
                          for item in result.get("results") or []
                          if isinstance(item, dict) and item.get("changed"))
            self.state.changes.append((host, str(data.get("task") or self.state.task), items))
        else:
            counts.ok += 1
        stats = (result.get("ansible_stats") or {}).get("data") or {}
        if isinstance(stats, dict):
            self._read_stats(stats, at)

    def _read_stats(self, stats: dict, at: str) -> None:
        for key, published in stats.items():
            reader = getattr(self, f"_stat_{key}", None) if key in DEDICATED_KEYS else None
            if reader is not None:
                reader(published, at)
            elif str(key).startswith("vedrun_") and isinstance(published, dict):
                for host, data in published.items():
                    self.state.results.setdefault(str(key), {})[str(host)] = data

    def _stat_vedrun_faults(self, published, at):
        for host, faults in (published or {}).items():
            self.state.faults[str(host)] = [str(f) for f in (faults or [])]

    def _stat_vedrun_health(self, published, at):
        for host, checks in (published or {}).items():
            self.state.health[str(host)] = checks

    def _stat_vedrun_health_passed(self, published, at):
        for host in published or {}:
            self.state.health_passed.append((str(host), at, self.state.phase))

    def _stat_vedrun_placeholder(self, published, at):
        if published:
            self.state.placeholder = True

    def _stat_vedrun_confirmations(self, published, at):
        for host, question in (published or {}).items():
            self.state.confirmations[str(host)] = question

    def _on_runner_on_failed(self, event, data, at):
        # a task may publish and fail at once (vedrun.kit.stack_health on an unhealthy host)
        stats = ((data.get("res") or {}).get("ansible_stats") or {}).get("data") or {}
        if isinstance(stats, dict):
            self._read_stats(stats, at)
        if data.get("ignore_errors"):
            return
        host = str(data.get("host"))
        self.state.counts(host).failed += 1
        self.state.failures.append({"host": host, "task": str(data.get("task", "")),
                                    "phase": self.state.phase, "msg": _message(data)})

    def _on_runner_on_unreachable(self, event, data, at):
        host = str(data.get("host"))
        self.state.counts(host).unreachable += 1
        self.state.unreachable[host] = _message(data)

    def _on_runner_on_skipped(self, event, data, at):
        self.state.counts(str(data.get("host"))).skipped += 1

    def _on_playbook_on_stats(self, event, data, at):
        self._enter(None, at)
        self.state.finished = True
        if isinstance(data.get("artifact_data"), dict):
            self._read_stats(data["artifact_data"], at)
        # the final tally wins over the live counts; ansible's "ok" includes the changed tasks
        for key, attr in (("changed", "changed"), ("failures", "failed"),
                          ("dark", "unreachable"), ("skipped", "skipped")):
            for host, count in (data.get(key) or {}).items():
                setattr(self.state.counts(str(host)), attr, int(count))
        for host, count in (data.get("ok") or {}).items():
            counts = self.state.counts(str(host))
            counts.ok = max(0, int(count) - counts.changed)


def _stamp(event: dict) -> str:
    created = event.get("created")
    try:
        return iso(from_iso(created)) if created else iso(now())
    except ValueError:
        return iso(now())


# A failed task's message as recorded and shown: its first line, up to this long (the cause and
# the command that fixes it, e.g. who holds a host's lock and how to break it, must fit).
MESSAGE_CHARS = 600


def _message(data: dict) -> str:
    result = data.get("res") or {}
    msg = result.get("msg") or result.get("stderr") or result.get("reason") or ""
    if not msg and result.get("censored"):
        msg = result["censored"]
    return str(msg).strip().splitlines()[0][:MESSAGE_CHARS] if msg else ""


FORKS_PER_CORE = 8  # a runbook task mostly waits on SSH and the host; see docs/benchmarks.md


def choose_forks(host_count: int, cores: int | None = None) -> int | None:
    """How many hosts ansible works on at once: every host up to 8 per controller core (at
    least ansible's own 5), unless ANSIBLE_FORKS says otherwise (then None: ansible reads it)."""
    if os.environ.get("ANSIBLE_FORKS"):
        return None
    return max(1, min(host_count, max(5, FORKS_PER_CORE * (cores or os.cpu_count() or 1))))


class RunbookRunner:
    """Builds ansible-runner's arguments for one playbook run and returns a RunResult."""

    def __init__(self, *, project: Path, playbook: Path, inventory: Path, run_dir: Path,
                 ident: str, limit: str | None = None, extravars: dict | None = None,
                 check: bool = False, vault_password_file: Path | None = None,
                 scrubber: Scrubber | None = None, rotate: int = 3,
                 on_change: Callable[[RunState], None] | None = None, host_count: int = 1,
                 after_start: Callable[[], None] | None = None):
        self.project = project
        self.playbook = playbook
        self.inventory = inventory
        self.run_dir = run_dir
        self.ident = ident
        self.limit = limit
        self.extravars = extravars or {}
        self.check = check
        self.vault_password_file = vault_password_file
        self.scrubber = scrubber or Scrubber()
        self.rotate = rotate
        self.on_change = on_change
        self.forks = choose_forks(host_count)
        self.after_start = after_start  # once, while ansible-playbook boots (vedrun only waits)

    @property
    def artifacts_dir(self) -> Path:
        return self.run_dir / "artifacts" / self.ident

    def run(self) -> RunResult:
        import ansible_runner  # heavy: imported only when a playbook runs

        env_dir = self.run_dir / "env"
        env_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.artifacts_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        extravars_file = env_dir / "extravars"
        if self.extravars:  # a file, not the command line: `ps` and artifacts must not show them
            fd = os.open(extravars_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(self.extravars, handle)
        cmdline = []
        if self.check:
            # check mode shows what detect finds and what mitigate/resolve would change; verify
            # would only report that the unfixed fault is still there
            cmdline += ["--check", "--skip-tags", "verify"]
        if self.vault_password_file:
            cmdline += ["--vault-password-file", str(self.vault_password_file)]
        control_dir = Path(tempfile.mkdtemp(prefix="vedrun-ssh-"))  # short: sockets have a length limit
        recorder = EventRecorder(playbook_phases(self.playbook), self.scrubber,
                                 self.artifacts_dir / "stdout", self.on_change)
        interrupts = Interrupts()
        try:
            with interrupts, closing_ended_ptys_at_once():
                runner = ansible_runner.run(
                    private_data_dir=str(self.run_dir),
                    project_dir=str(self.project),
                    playbook=str(self.playbook),
                    inventory=str(self.inventory),
                    limit=self.limit,
                    forks=self.forks,
                    cmdline=" ".join(shlex.quote(arg) for arg in cmdline) or None,
                    envvars={
                        # the ansible of vedrun's own environment, even when it is not activated
                        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                        "ANSIBLE_CONFIG": str(self.project / "ansible.cfg"),
                        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
                        "ANSIBLE_NOCOLOR": "1",
                        "ANSIBLE_RETRY_FILES_ENABLED": "0",
                        # ansible-runner turns host key checking off unless this is set, which
                        # would override ansible.cfg: an unknown host key must stop the run
                        "ANSIBLE_HOST_KEY_CHECKING": os.environ.get("ANSIBLE_HOST_KEY_CHECKING", "True"),
                    },
                    ident=self.ident,
                    quiet=True,
                    event_handler=recorder,
                    cancel_callback=first_call_runs(self.after_start, then=interrupts.cancel),
                    rotate_artifacts=self.rotate,
                    settings={"pexpect_timeout": 0.2, "suppress_output_file": True},
                )
        finally:
            recorder.close()
            extravars_file.unlink(missing_ok=True)
            close_ssh_masters(control_dir)
            self._scrub_artifacts()
        status = str(runner.status)
        return RunResult(rc=runner.rc, status=status, state=recorder.state,
                         artifacts_dir=self.artifacts_dir, canceled=status == "canceled",
                         signal_name=interrupts.signal_name)

    def _scrub_artifacts(self) -> None:
        # ansible-runner writes the whole process environment into `command`: keep the command only
        command_file = self.artifacts_dir / "command"
        if command_file.is_file():
            try:
                data = json.loads(command_file.read_text(encoding="utf-8"))
                data.pop("env", None)
                command_file.write_text(json.dumps(data), encoding="utf-8")
            except (ValueError, OSError):
                command_file.unlink(missing_ok=True)
        self.scrubber.tree(self.artifacts_dir)
