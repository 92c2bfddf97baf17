"""What every command shares: parameter types, option decorators, the engine, JSON output and
domain errors as Click prints them."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path

import click

from vedrun.errors import OperationFailed, VedrunError
from vedrun.escaping import terminal
from vedrun.inventory import Where


class VedrunClickError(click.ClickException):
    """A domain error as Click prints it, with vedrun's exit code; the failed tasks of an
    operation come first, each on a FAILED line."""

    def __init__(self, error: VedrunError):
        super().__init__(terminal(str(error), multiline=True))  # it may quote a host
        self.exit_code = int(error.exit_code)
        self.failures = error.failures if isinstance(error, OperationFailed) else []

    def show(self, file=None) -> None:
        for line in self.failures:
            click.secho(terminal(f"FAILED {line}", multiline=True), fg="red", err=True)
        super().show(file)


class MomentType(click.ParamType):
    """When an incident began, as typed at 3 a.m.: ISO 8601, HH:MM, `15m ago`; from 30 days
    ago to now (timeutil.START_MAX_AGE), or back to 2000 when the command's eager `--backfill`
    flag is given."""

    name = "time"

    def convert(self, value, param, ctx):
        from vedrun.timeutil import START_MAX_AGE, parse_start

        if isinstance(value, datetime):
            return value
        backfill = bool(ctx is not None and ctx.params.get("backfill"))
        try:
            return parse_start(value, max_age=None if backfill else START_MAX_AGE)
        except (ValueError, OverflowError) as exc:
            self.fail(str(exc), param, ctx)


class SinceType(click.ParamType):
    """A period back from now: 30d, 12h, 2w, or a date."""

    name = "period"

    def convert(self, value, param, ctx):
        from vedrun.timeutil import since

        if isinstance(value, datetime):
            return value
        try:
            return since(value)
        except (ValueError, OverflowError) as exc:
            self.fail(str(exc), param, ctx)


class SeverityType(click.ParamType):
    """A severity of the catalog (P0, p1 ...), upper-cased."""

    name = "severity"

    def convert(self, value, param, ctx):
        known = list(engine_of(ctx).catalog.severities)
        severity = str(value).upper()
        if severity not in known:
            self.fail(f"{severity} is not one of {', '.join(known)}", param, ctx)
        return severity


class ExtraVarsType(click.ParamType):
    """`-e key=value` (repeatable) or `-e @vars.yml` (YAML or JSON)."""

    name = "k=v|@file"

    def convert(self, value, param, ctx):
        if isinstance(value, dict):
            return value
        if value.startswith("@"):
            return self._file(Path(value[1:]).expanduser(), param, ctx)
        if value.lstrip().startswith("{"):
            try:
                data = json.loads(value)
            except ValueError as exc:
                self.fail(f"not valid JSON: {exc}", param, ctx)
            if isinstance(data, dict):
                return data
        return self._pair(value, param, ctx)

    def _file(self, path: Path, param, ctx) -> dict:
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            self.fail(f"cannot read {path}: {exc.strerror}", param, ctx)
        except yaml.YAMLError as exc:
            self.fail(f"{path} is not valid YAML or JSON: {exc}", param, ctx)
        if not isinstance(data, dict):
            self.fail(f"{path} must hold a mapping of variable names to values", param, ctx)
        return data

    def _pair(self, value: str, param, ctx) -> dict:
        import yaml

        key, sep, raw = value.partition("=")
        if not sep or not key.strip().isidentifier():
            self.fail(f"{value!r} is not key=value (a variable name, '=', a value) nor @file",
                      param, ctx)
        try:
            parsed = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            parsed = raw
        return {key.strip(): parsed if isinstance(parsed, bool | int | float | list | dict) else raw}


def inventory_options(func):
    """-i/--inventory, -l/--limit and --vault-password-file, given to the command as one
    `where` (vedrun.inventory.Where)."""

    @functools.wraps(func)
    def command(*args, inventory, limit, vault_password_file, **kwargs):
        vault = Path(vault_password_file) if vault_password_file else None
        return func(*args, where=Where(inventory, limit, vault), **kwargs)

    for option in reversed([
        click.option("-i", "--inventory", help="Inventory file or folder. Default: inventory/production."),
        click.option("-l", "--limit", help="Only these hosts or groups (Ansible pattern), e.g. prod."),
        click.option("--vault-password-file", type=click.Path(exists=True, dir_okay=False),
                     envvar="VEDRUN_VAULT_PASSWORD_FILE", help="Decrypts the inventory's vault."),
    ]):
        command = option(command)
    return command


def json_option(text: str = "Print the result as JSON."):
    return click.option("--json", "as_json", is_flag=True, help=text)


def extra_vars_option(func):
    """-e/--extra-vars, repeatable, given to the command merged into one dict `extravars`."""

    @functools.wraps(func)
    def command(*args, extra_vars, **kwargs):
        merged: dict = {}
        for item in extra_vars or ():
            merged.update(item)
        return func(*args, extravars=merged, **kwargs)

    return click.option("-e", "--extra-vars", "extra_vars", multiple=True, type=ExtraVarsType(),
                        help="Extra variables, key=value or @file.yml; repeatable.")(command)


def engine_of(ctx: click.Context):
    """The engine of this invocation (one per command line), built when first needed."""
    from vedrun.engine import Engine

    obj = ctx.find_root().obj
    if obj is None:
        obj = ctx.find_root().obj = {}
    if "engine" not in obj:
        obj["engine"] = Engine(obj.get("project"), obj.get("home"))
    return obj["engine"]


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
