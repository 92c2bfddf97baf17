"""Query texts as evidence (vedrun.kit module_utils/sql_text.py): literals never leave the host,
comments, parameters and identifiers stay, the sqlcommenter route is read back."""

from __future__ import annotations

import pytest
from ansible_collections.vedrun.kit.plugins.module_utils.sql_text import redact, route


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT * FROM users WHERE email = 'ann@example.test' AND id = 42",
     "SELECT * FROM users WHERE email = ? AND id = ?"),
    ("SELECT 'it''s', E'a\\'b', x'FF', B'01', N'abc'", "SELECT ?, ?, ?, ?, ?"),
    ("SELECT $$tok_live_123$$, $body$a 'b' c$body$", "SELECT ?, ?"),
    ("SELECT 1.5e3, .5, 7 FROM t2 WHERE c3 = $1", "SELECT ?, ?, ? FROM t2 WHERE c3 = $1"),
    ('SELECT "we\'ird col" FROM "T"', 'SELECT "we\'ird col" FROM "T"'),
    ("SELECT id FROM courses WHERE id = $1 /*route='%2Fcourses'*/",
     "SELECT id FROM courses WHERE id = $1 /*route='%2Fcourses'*/"),
    ("UPDATE t SET secret = 'unterminated", "UPDATE t SET secret = ?"),
])
def test_every_literal_is_redacted_and_the_rest_kept(sql, expected):
    assert redact(sql) == expected


def test_a_planted_secret_never_survives_redaction():
    planted = "sk_live_PLANTED_4242"
    for sql in (f"SELECT '{planted}'", f"SELECT E'{planted}'", f"SELECT $x${planted}$x$",
                f"INSERT INTO k VALUES ('a', '{planted}')"):  # noqa: S608 - redacted, never run
        assert planted not in redact(sql)


def test_the_route_of_a_sqlcommenter_comment():
    assert route("SELECT 1 /*route='%2Fcourses%2Ffeatured'*/") == "/courses/featured"
    assert route("SELECT 1 /*controller='x',route='%2Fa'*/") == "/a"
    assert route("SELECT 1") == "" and route(None) == ""
