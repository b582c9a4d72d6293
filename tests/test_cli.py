"""The ``agentmetrics`` command as a newcomer meets it: --version, a description for every subcommand, defaults in
--help, and a bad setting as one line with exit status 2 instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from otel_agentmetrics import __version__
from otel_agentmetrics.cli import build_parser, main


def _agentmetrics(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = "import sys; from otel_agentmetrics.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"agentmetrics {__version__}\n"


def test_every_subcommand_has_a_help_line_and_a_description() -> None:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    names = set(subparsers.choices)
    assert names == {"prices", "estimate", "report", "live", "export", "alerts", "serve", "clear", "demo"}
    for name, sub in subparsers.choices.items():
        assert helps.get(name), f"{name}: no help line in 'agentmetrics --help'"
        assert sub.description, f"{name}: no description in 'agentmetrics {name} --help'"


def test_serve_help_shows_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "port (default: 8765; 0 picks a free one)" in out
    assert "(default: 127.0.0.1;" in out


def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: os.PathLike[str]) -> None:
    # The demo calls instrument(), which reads AGENTMETRICS_* variables: no traceback, the fix on one line.
    result = _agentmetrics(
        "demo", "--store", os.path.join(tmp_path, "demo.sqlite3"), env={"AGENTMETRICS_STREAM_USAGE": "maybe"}
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "agentmetrics demo: AGENTMETRICS_STREAM_USAGE='maybe' is not a boolean; set it to true or false "
        "(or 1/0, yes/no, on/off)"
    ]


def test_a_bad_price_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "gpt-4o-mini", "--prices", "/nonexistent/prices.toml"]) == 2
    assert capsys.readouterr().err.startswith("agentmetrics prices: prices: cannot read /nonexistent/prices.toml")


def test_a_mistyped_option_gets_the_subcommands_usage_and_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["report", "--sinse", "1h"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: agentmetrics report ")
    assert "--since SINCE" in err  # the subcommand's options, not only COMMAND
    assert err.rstrip().endswith(
        "agentmetrics report: error: unrecognized arguments: --sinse 1h (did you mean --since?)"
    )


def test_a_mistyped_command_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["reprot"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "agentmetrics: error: unknown command 'reprot' (did you mean report?); use one of " in err


def test_an_unknown_option_far_from_any_gets_no_guess(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--zzz"])
    err = capsys.readouterr().err
    assert err.rstrip().endswith("agentmetrics serve: error: unrecognized arguments: --zzz")
