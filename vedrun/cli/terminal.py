"""The questions vedrun asks a person at a terminal, as callbacks for the engine.

`can_ask` is the one seam that says whether a person is there (tests replace it): without
one, nothing is asked and the engine's refusal or exit code 7 says what to type instead.
"""

from __future__ import annotations

import sys

import click

from vedrun.errors import Exit, VedrunError


def can_ask() -> bool:
    """A person is at a terminal to answer a question (tests replace this)."""
    return sys.stdin.isatty()


def production_approval(yes: bool):
    """approve(plan) for a runbook run: asks before touching production hosts, or refuses."""

    def approve(plan) -> None:
        if not plan.needs_confirmation or yes:
            return
        hosts = ", ".join(plan.hosts)
        if not can_ask():
            raise VedrunError(
                f"Refusing to run {plan.runbook.id} against production hosts ({hosts}) without "
                "confirmation, and there is no terminal to ask. Add --yes to confirm.",
                exit_code=Exit.USAGE)
        if not click.confirm(f"Run {plan.runbook.id} against production hosts: {hosts}?"):
            raise VedrunError("Not confirmed: nothing was run or recorded.", exit_code=Exit.ABORTED)

    return approve


def ask_before_destructive_step(questions) -> bool:
    """The runbook stopped before a destructive step: each host's question, then yes or no."""
    click.echo()
    for question in questions:
        click.secho(f"{question.host}: {question.question}", fg="yellow", bold=True)
    if not click.confirm("Go ahead?", default=False):
        click.echo("Not confirmed: nothing more was changed; the incident stays open.")
        return False
    return True


def runbook_confirm(as_json: bool):
    """The confirm callback of a runbook run: None (stop with exit 7 and print the command that
    goes ahead) when the output is JSON or nobody is at a terminal."""
    if as_json or not can_ask():
        return None
    return ask_before_destructive_step


def restore_confirm(yes: bool, as_json: bool):
    """The confirm callback of `vedrun restore`: shows what each host would restore, then
    True (--yes or a yes), False (a no) or None (nobody to ask)."""

    def confirm(questions) -> bool | None:
        for question in questions:
            click.secho(f"{question.host}: {question.question}", fg="yellow", err=as_json)
        if yes:
            return True
        if not can_ask():
            return None
        return click.confirm("Restore now?", default=False)

    return confirm
