"""Issue 10 (hardening), escaping: titles, notes and hosts' messages can neither change the
structure of INCIDENTS.md and RCA drafts nor drive the terminal.

At e0d454e the templates and `incident list/show` wrote titles and notes as they were: a
newline started a new Markdown line (a table row, a heading), a `|` a new column, and ANSI
escapes, carriage returns and NUL reached the file and the terminal raw.
"""

from __future__ import annotations

import json
import re

from vedrun.catalog import Runbook
from vedrun.display.runs import report
from vedrun.escaping import md_cell, md_line, md_text, terminal
from vedrun.outcome import Outcome
from vedrun.runner import RunState
from vedrun.runs import RunReport

FORGED_ROW = "| INC-20200101-001 | P0 | forged | - | resolved | 2020-01-01 03:00 | recovered |"
HOSTILE = "API down\x1b[2J\x1b]0;owned\x07\r\x00 done"


def _table_rows(markdown: str, header: str) -> list[str]:
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def _cells(row: str) -> int:
    return len(re.split(r"(?<!\\)\|", row)) - 2


def test_a_title_cannot_add_a_row_or_shift_columns_in_incidents_md(run, home):
    """A title with a newline and a forged row, and one with `|` in it (e0d454e: two rows for
    the first incident, and one column too many for the second)."""
    for title in (f"API down\n{FORGED_ROW}", "502 | 504 on /pay"):
        assert run("incident", "log", "--severity", "P0", "--title", title).exit_code == 0
    text = (home / "INCIDENTS.md").read_text()
    header = "| Incident | Kind | Sev | Title |"
    rows = _table_rows(text, header)
    assert len(rows) == 2
    assert all(_cells(row) == _cells(header + " Runbook | Status | Started (UTC) | MTTR | Outcome |")
               for row in rows)
    assert not any(line.startswith("| INC-20200101-001") for line in text.splitlines())
    assert "502 \\| 504 on /pay" in text


def test_a_note_cannot_add_a_row_or_a_heading_to_an_rca(run):
    """A note with a newline, a forged timeline row and a heading (e0d454e: the RCA got a
    second `## Root cause` and a timeline row at 03:00 that never happened)."""
    record = json.loads(run("incident", "log", "--severity", "P1", "--title",
                            "logins fail\n## Root cause\nnobody", "--json").output)
    note = "restarted\n| 03:00 | resolved |\n## Root cause\nthe intern\n<img src=x onerror=alert(1)>"
    assert run("incident", "update", record["id"], "--note", note).exit_code == 0
    rca = run("incident", "rca", record["id"]).output
    lines = rca.splitlines()
    assert [line for line in lines if line.startswith("## Root cause")] == ["## Root cause"]
    assert not any(line.startswith("| 03:00") for line in lines)
    assert "<img" not in rca and "&lt;img" in rca
    timeline = _table_rows(rca, "| Time | Event |")
    assert all(_cells(row) == 2 for row in timeline)


def test_control_characters_never_reach_the_terminal_or_the_markdown(run, home):
    """ANSI escapes, a carriage return and NUL in a title and a note: shown escaped by `incident
    list/show`, the RCA and INCIDENTS.md (e0d454e echoed them raw)."""
    record = json.loads(run("incident", "log", "--severity", "P0", "--title", HOSTILE,
                            "--json").output)
    run("incident", "update", record["id"], "--note", f"note {HOSTILE}\nsecond line")
    outputs = {"list": run("incident", "list").output, "show": run("incident", "show", record["id"]).output,
               "rca": run("incident", "rca", record["id"]).output,
               "INCIDENTS.md": (home / "INCIDENTS.md").read_text()}
    for name, text in outputs.items():
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text), name
        assert "\\x1b[2J" in text, name
    show = outputs["show"].splitlines()
    second = next(line for line in show if "second line" in line)
    assert second.startswith(" " * 20)  # a note's next line stays under it, indented


def test_a_hosts_message_is_escaped_in_the_run_report(capsys):
    """A failure message from a host carries terminal escapes: the end-of-run report shows them
    escaped (e0d454e echoed `message` raw)."""
    runbook = Runbook(id="p0-x", severity="P0", title="X", scenario="s", causes=(), quick_actions=(),
                      playbook="playbooks/x.yml")
    state = RunState()
    state.faults = {"web\x1b[31m-1": ["port\rtaken"]}
    done = RunReport(outcome=Outcome.FAILED, exit_code=1, run={}, incident=None, state=state,
                     message=f"web-1: restart: {HOSTILE}")
    report(done, runbook)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\x00" not in out
    assert "\\x1b]0;owned\\x07" in out and "port\\x0dtaken" in out


def test_the_filters():
    """The Jinja filters and the terminal helper, case by case."""
    assert md_cell("a\nb | c\\") == "a<br>b \\| c\\\\"
    assert md_line("t\n# H <b>") == "t # H &lt;b>"
    assert md_text("a\n## H\n- x\n1. y\n| r |", indent=2) == "a\n  \\## H\n  \\- x\n  1\\. y\n  \\| r \\|"
    assert terminal("a\x1b[0m\u202eb\nc") == "a\\x1b[0m\\u202eb\\nc"
    assert terminal("a\nb\tc", multiline=True) == "a\nb\tc"


def test_hosts_text_is_escaped_while_a_run_shows_its_progress_and_in_health(capsys):
    """The progress lines, the live table and the health report carry hosts' text (task names,
    failure messages, check details): controls are shown escaped, rich's markup taken literally."""
    from vedrun.display.operations import HealthLines
    from vedrun.display.progress import LiveView, PlainView, TaskLines

    state = RunState()
    state.phase = "detect"
    state.task = "probe [red]x[/] \x1b[2J"
    state.failures = [{"host": "web-1", "task": "restart\x07", "msg": HOSTILE}]
    state.unreachable = {"web-2": "ssh: \x1b[31mno route"}
    state.health = {"web-3": {"api": {"ok": False, "detail": "answered \x1b]0;owned\x07"}}}
    PlainView().update(state)
    TaskLines().update(state)
    HealthLines().update(state)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out, repr(out)
    assert "no route" in out and "answered \\x1b]0;owned\\x07" in out
    view = LiveView("p0-x on web\x1b[31m-1 [bold]")
    view.update(state)
    caption = view._render().caption
    assert "\x1b" not in caption and "\\[red]" in caption, caption
    assert "\x1b" not in view._render().title
