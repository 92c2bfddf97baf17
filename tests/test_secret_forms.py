"""The planted-secret search (tests/secret_forms.py) finds a secret in each form it can be written
in, wherever it sits in a longer text, and nothing that is not one."""

from __future__ import annotations

import base64
import json
import shlex
from urllib.parse import quote

import pytest
from secret_forms import forms, main, search

SECRET = "s3cr\"et/+&=%' with space"


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc"])
def test_base64_is_found_at_any_alignment(prefix):
    text = base64.b64encode(f"{prefix}DATABASE_URL=postgres://u:{SECRET}@h/db".encode())
    assert search({"db": SECRET}, {"blob": text})
    assert search({"db": SECRET}, {"blob": base64.urlsafe_b64encode(prefix.encode() + SECRET.encode())})


@pytest.mark.parametrize("written", [
    SECRET, quote(SECRET, safe=""), json.dumps(SECRET), json.dumps(json.dumps({"env": SECRET})),
    shlex.quote(SECRET), SECRET.encode().hex()])
def test_each_written_form_is_found(written):
    assert search({"jwt": SECRET}, {"log": f"before {written} after".encode()}) != []


def test_nothing_else_is_a_hit_and_the_hit_does_not_repeat_the_secret():
    assert search({"jwt": SECRET}, {"log": b"s3cr et with spaces, 10000 rows"}) == []
    [hit] = search({"jwt": "abcdefgh12345678"}, {"f": b"x abcdefgh12345678 y"})
    assert hit == "f: jwt (as is)"
    assert len(forms("abcdefgh12345678")) >= 5


def test_short_secrets_are_refused():
    with pytest.raises(ValueError, match="8 characters or more"):
        search({"pin": "1234"}, {"f": b"1234"})


def test_the_script_exits_1_on_a_hit(tmp_path, capsys):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "jwt_secret").write_text("abcdefgh12345678\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "clean.log").write_text("nothing here\n")
    assert main(["--secrets-dir", str(tmp_path / "secrets"), str(tmp_path / "out")]) == 0
    leaked = base64.b64encode(b"xabcdefgh12345678").decode()
    (tmp_path / "out" / "leak.json").write_text(json.dumps({"b64": leaked}))
    assert main(["--secrets-dir", str(tmp_path / "secrets"), str(tmp_path / "out")]) == 1
    assert "leak.json: jwt_secret (base64" in capsys.readouterr().out
    assert main(["--secrets-dir", str(tmp_path / "secrets"), "--skip", str(tmp_path / "out" / "leak.json"),
                 str(tmp_path / "out")]) == 0
