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
def test_each_command_has_help(name, capsys):
    # In process: argparse prints the help and exits 0 (one interpreter for all commands).
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert f"sightsound {name}" in capsys.readouterr().out


def test_the_package_entry_point_runs_a_command():
    """``python -m sightsound <command>``, as ``accelerate launch -m sightsound sft`` uses it."""
    proc = subprocess.run([sys.executable, "-m", "sightsound", "sft", "--help"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "sightsound sft" in proc.stdout


def test_unknown_command_fails(capsys):
    with pytest.raises(SystemExit):
        main(["no-such-command"])
