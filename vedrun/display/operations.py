"""Reports of the operations: health, backups, their listing, restores, the lab's status."""

from __future__ import annotations

import click

from vedrun.escaping import terminal
from vedrun.operations import size


# Every line here carries hosts' text (names, messages, details, container listings): controls
# are shown escaped, never sent to the terminal (see vedrun/escaping.py).
def echo(text: str = "", **kwargs) -> None:
    click.echo(terminal(text, multiline=True), **kwargs)


def secho(text: str = "", **kwargs) -> None:
    click.secho(terminal(text, multiline=True), **kwargs)


def _failures(report) -> None:
    for line in report.failure_lines():
        secho(f"FAILED {line}", fg="red")


def backup_report(report) -> None:
    """Each host's new verified backup: when, how big, its rows, where it is."""
    for host in report.hosts:
        item = report.backups.get(host)
        if item is None or not item.verified:
            continue
        secho(f"{host}: backup {item.name} verified", fg="green", bold=True)
        echo(f"  taken {item.taken_at}, {size(item.size_bytes)}, "
             f"{item.rows:,} rows in {len(item.tables)} tables, "
             f"sha256 {item.sha256[:16]}...")
        echo(f"  on the host: {item.path}")
        extra = item.as_dict()
        if extra.get("removed"):
            echo(f"  retention removed: {', '.join(extra['removed'])}")
        if extra.get("prunable"):
            secho(f"  retention would remove: {', '.join(extra['prunable'])} "
                  "(kept: add --prune to remove them)", fg="yellow")
        if report.fetched_to is not None:
            echo(f"  copied to:   {report.fetched_to / host / item.file}")
    _failures(report)


def listing_report(report) -> None:
    """Each host's verified backups, newest first, and the files skipped."""
    for host in report.hosts:
        listing = report.listings.get(host)
        if listing is None:
            continue
        secho(f"{host}: {len(listing.backups)} verified backup(s)", bold=True)
        for item in listing.backups:
            echo(f"  {item.name}  taken {item.taken_at}  {size(item.size_bytes):>10}"
                 f"  {item.rows:>10,} rows")
        for problem in listing.problems:
            secho(f"  skipped {problem}", fg="yellow")
    _failures(report)


def restore_report(report) -> None:
    for host, item in sorted(report.restores.items()):
        secho(f"{host}: restored {item.backup.name} in {item.seconds} s; rows match the "
              f"manifest; previous database kept as {item.replaced_by}",
              fg="green", bold=True)
    _failures(report)


def _host_health(host: str, checks: dict) -> None:
    """One host's verdict, then an `ok  `/`slow`/`FAIL` line per check."""
    healthy = bool(checks) and all(check.get("ok") for check in checks.values())
    secho(f"{host}: {'healthy' if healthy else 'UNHEALTHY'}",
          fg="green" if healthy else "red", bold=True)
    width = max((len(name) for name in checks), default=5)
    for name, check in checks.items():
        mark = "FAIL" if not check.get("ok") else ("slow" if check.get("slow") else "ok  ")
        secho(f"  {mark}  {name:<{width}}  {check.get('detail', '')}",
              fg=None if check.get("ok") else "red")
    if not checks:
        echo("  no health report (the health playbook failed before reporting)")


class HealthLines:
    """`vedrun health` as it runs: each host's verdict as soon as its checks (or its
    unreachability) arrive, so that a check of many hosts streams instead of waiting for all."""

    def __init__(self):
        self.shown: set[str] = set()

    def update(self, state) -> None:
        for host, checks in list(state.health.items()):
            if host not in self.shown:
                self.shown.add(host)
                _host_health(host, checks)
        for host, message in list(state.unreachable.items()):
            if host not in self.shown:
                self.shown.add(host)
                secho(f"{host}: UNREACHABLE — {message}", fg="red", bold=True)


def health_report(report, shown: set[str] | frozenset[str] = frozenset()) -> None:
    """Per host: healthy or not, then a line per check (hosts already `shown` as they came are
    not repeated); the failed tasks; a one-line summary when there is more than one host."""
    for host in report.ran:
        if host in shown:
            continue
        if host in report.unreachable:
            secho(f"{host}: UNREACHABLE — {report.unreachable[host]}", fg="red", bold=True)
            continue
        _host_health(host, report.checks.get(host, {}))
    for failure in report.failures:
        secho(f"FAILED on {failure['host']}: {failure['task']}: {failure['msg']}", fg="red")
    if len(report.ran) > 1:
        healthy = sum(1 for host in report.ran if report.healthy(host))
        echo(f"{len(report.ran)} hosts: {healthy} healthy, {len(report.unreachable)} unreachable, "
             f"{len(report.ran) - healthy - len(report.unreachable)} unhealthy")


def lab_status(status) -> None:
    """The lab's containers, then its VPS's health checks (or why there are none)."""
    if status.containers:
        echo(f"{'container':<22} {'state':<10} status")
        for row in sorted(status.containers, key=lambda r: r.get("Names", "")):
            echo(f"{row.get('Names', ''):<22} {row.get('State', ''):<10} {row.get('Status', '')}")
        echo()
    if status.health is None:
        secho(f"FAIL  {'lab':<16} not set up: run `vedrun lab up`", fg="red")
    else:
        health_report(status.health)
