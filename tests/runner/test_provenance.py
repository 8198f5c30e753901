"""`l2s_bench.runner.provenance` and `l2s_bench.runner.sittings`: what code made a run, in one repository
state and across sittings."""

from __future__ import annotations

import subprocess

import pytest

from l2s_bench.runner import provenance
from l2s_bench.runner.sittings import code_versions, describe_code


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A checkout of our shape (bench/l2s_bench, results/, reports/) with one commit."""
    for path in ("bench/l2s_bench/code.py", "results/r/results.json", "reports/r/leaderboard.md"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("v1\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    monkeypatch.setattr(provenance, "REPO", tmp_path)
    return tmp_path


def test_dirty_means_the_code_differs_not_the_committed_outputs(repo):
    clean = provenance.git_state()
    assert len(clean["sha"]) == 40 and clean["dirty"] is False
    for output in ("results/r/results.json", "reports/r/leaderboard.md"):  # re-scoring a committed run
        (repo / output).write_text("v2\n")
    assert provenance.git_state() == clean
    (repo / "bench/l2s_bench/code.py").write_text("v2\n")
    assert provenance.git_state() == {"sha": clean["sha"], "dirty": True}


def test_an_installed_package_has_no_git_state(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "REPO", tmp_path)  # site-packages: no bench/l2s_bench of ours
    assert provenance.git_state() == {"sha": None, "dirty": None}


def test_code_versions_across_sittings():
    one = {"git": {"sha": "a" * 40, "dirty": False}, "packages": {"torch": "2.13.0"}}
    assert code_versions([one, one]) == {"sittings": 2, "shas": ["a" * 40], "mixed": False, "dirty": 0, "unrecorded": 0}
    assert describe_code(code_versions([one, one])) == "2 sittings; one commit (aaaaaaaaaaaa)"
    newer = {"git": {"sha": "b" * 40, "dirty": True}, "packages": {"torch": "2.13.0"}}
    mixed = code_versions([{"started": "old"}, one, newer])
    assert mixed == {"sittings": 3, "shas": ["a" * 40, "b" * 40], "mixed": True, "dirty": 1, "unrecorded": 1}
    assert describe_code(mixed) == ("3 sittings; MIXED code: 2 commits (aaaaaaaaaaaa, bbbbbbbbbbbb); 1 from a DIRTY "
                                    "tree; 1 with no code recorded (before 2026-12-08)")
    upgraded = dict(one, packages={"torch": "2.14.0"})
    assert describe_code(code_versions([one, upgraded])) == "2 sittings; MIXED package versions at aaaaaaaaaaaa"
