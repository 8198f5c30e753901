"""README.md and docs/: every relative link resolves, and every `l2s-bench ...` command shown parses."""

import re
import shlex
from pathlib import Path

import pytest

from l2s_bench.cli import parse_command

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def shown_commands(text: str) -> list[str]:
    """The `l2s-bench` command lines of the bash/sh code blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.lstrip("$ "), comments=True)
            while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):  # VAR=value before the command
                words = words[1:]
            if words and Path(words[0]).name == "l2s-bench":
                commands.append(shlex.join(words[1:]))
    return commands


def test_the_pages_exist_and_the_readme_is_short():
    assert (REPO / "docs").is_dir() and len(PAGES) > 5
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves_inside_the_repository(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor on the same page
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists() or REPO not in path.parents:
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_shown_parses(page):
    for command in shown_commands(page.read_text(encoding="utf-8")):
        try:
            parse_command(shlex.split(command))
        except SystemExit as e:
            assert e.code == 0, f"{page.name}: `l2s-bench {command}` does not parse"


def test_the_command_finder_finds_commands_and_a_bad_one_fails():
    text = "```bash\nl2s-bench list tasks   # all of them\nFOO=1 .venv/bin/l2s-bench run smoke \\\n  --no-speed\n```\n"
    assert shown_commands(text) == ["list tasks", "run smoke --no-speed"]
    with pytest.raises(SystemExit):
        parse_command(["run", "smoke", "--no-such-flag"])


@pytest.mark.integration
def test_the_python_api_example_runs(tmp_path, monkeypatch, capsys):
    """The first example of docs/python-api.md, as shown, from a folder where tests/fixtures resolves."""
    text = (REPO / "docs" / "python-api.md").read_text(encoding="utf-8")
    example = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    assert "l2s_bench.evaluate(" in example
    (tmp_path / "tests").symlink_to(REPO / "tests")
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "docs/python-api.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in printed] == [["trivial", "trivial"], ["llm", "llm"]]
    assert (tmp_path / "results" / "evaluate-kjv-web" / "results.json").is_file()
