"""Every command has a --help, and bad input is one clear line, not a traceback."""

import subprocess
import sys

import pytest

from sightsound.cli import COMMANDS, main


def test_top_level_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_help(name):
    proc = subprocess.run([sys.executable, "-m", "sightsound", name, "--help"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"sightsound {name}" in proc.stdout


def test_unknown_command_fails(capsys):
    with pytest.raises(SystemExit):
        main(["no-such-command"])
