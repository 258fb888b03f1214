"""Every command the README shows parses as written: a renamed flag or command fails here."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from paystream.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[str]:
    """`paystream …` invocations in the README's code blocks and its command table."""
    found = []
    text = README.read_text().replace("\\\n", " ")  # a command continued on the next line
    for line in text.splitlines():
        line = line.split("  #")[0].strip().removeprefix("$ ")
        for part in line.split("&&"):
            words = re.sub(r"^([A-Z_]+=\S+ )+", "", part.strip())  # PAYSTREAM_PROFILE=… first
            if re.match(r"^(\.venv/bin/)?paystream \w", words):
                found.append(words)
    return found


def make_targets() -> set[str]:
    """Targets the Makefile defines."""
    makefile = (README.parent / "Makefile").read_text()
    rules = re.findall(r"^([a-z][a-z -]*):", makefile, flags=re.MULTILINE)
    return {target for rule in rules for target in rule.split()}


def test_the_readme_shows_the_commands_a_newcomer_needs() -> None:
    commands = " ".join(readme_commands())
    for needed in ("paystream produce --rate 200", "paystream stream", "paystream dashboard",
                   "paystream sql"):
        assert needed in commands
    for target in re.findall(r"^make ([a-z-]+)", README.read_text(), flags=re.MULTILINE):
        assert target in make_targets(), target


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_parses(command: str) -> None:
    argv = shlex.split(command)[1:]
    args, passed_through = build_parser().parse_known_args(argv)
    assert args.command
    assert not passed_through or args.command == "dashboard", passed_through
