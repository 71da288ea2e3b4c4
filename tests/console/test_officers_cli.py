"""`slrt-hub officers`: create (password asked twice, or from standard input), list,
password, unlock, disable; each refusal a line and exit code 2."""

from __future__ import annotations

from typer.testing import CliRunner

from hub.cli.main import app

runner = CliRunner()


def _client(name: str, role: str, *extra: str) -> None:
    result = runner.invoke(app, ["clients", "create", name, "--role", role, "--legal-basis",
                                 "Permensos 15/2018 (SLRT)", "--purpose", "desk",
                                 *extra])
    assert result.exit_code == 0, result.output


def test_officers_from_creation_to_disabling(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HUB_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    _client("dinsos-sragen", "DISTRICT", "--region", "33.14")
    created = runner.invoke(app, ["officers", "create", "siti", "--client", "dinsos-sragen",
                                  "--desk", "front", "--full-name", "Siti Aminah"],
                            input="rahasia-sekali-1\nrahasia-sekali-1\n")
    assert created.exit_code == 0, created.output
    assert "siti: FRONT desk of dinsos-sragen" in created.output
    assert "rahasia" not in created.output.replace("Password", "")

    mismatch = runner.invoke(app, ["officers", "create", "budi", "--client", "dinsos-sragen",
                                   "--desk", "BACK"],
                             input="rahasia-sekali-1\nlain-sekali-22\n"
                                   "rahasia-sekali-1\nrahasia-sekali-1\n")
    assert mismatch.exit_code == 0
    assert "budi: BACK desk" in mismatch.output

    for args, words in (
            (["siti", "--client", "dinsos-sragen", "--desk", "BACK"], "exists already"),
            (["ani", "--client", "nobody", "--desk", "BACK"], "no active client"),
            (["ani", "--client", "dinsos-sragen", "--desk", "AGENCY"], "cannot work")):
        refused = runner.invoke(app, ["officers", "create", *args, "--password-stdin"],
                                input="rahasia-sekali-1\n")
        assert refused.exit_code == 2, refused.output
        assert words in refused.output
        assert "Traceback" not in refused.output
    short = runner.invoke(app, ["officers", "password", "siti", "--password-stdin"],
                          input="pendek\n")
    assert short.exit_code == 2
    assert "at least 10" in short.output

    listed = runner.invoke(app, ["officers", "list"], terminal_width=200)
    assert "Siti Aminah" in listed.output
    assert "active" in listed.output
    assert "argon2" not in listed.output
    assert runner.invoke(app, ["officers", "unlock", "siti"]).exit_code == 0
    assert runner.invoke(app, ["officers", "disable", "siti"]).exit_code == 0
    listed = runner.invoke(app, ["officers", "list"], terminal_width=200)
    assert "disabled" in listed.output
    unknown = runner.invoke(app, ["officers", "disable", "nobody"])
    assert unknown.exit_code == 2
    assert "no officer named" in unknown.output
