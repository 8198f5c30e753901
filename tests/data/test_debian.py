"""Offline checks of the Debian description builders, on raw apt stanzas and the committed debian-sum and
ddtp-en-de slices. Both come from the real apt lists; regenerate them with `python -m l2s_bench.data.debian fixture`.
"""

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from l2s_bench.data import apt, debian, prepare, prepared_split
from l2s_bench.errors import BenchError

FIXTURES = Path(__file__).parents[1] / "fixtures"
RAW = FIXTURES / "raw"


def raw(lang: str) -> dict[str, debian.Description]:
    return {d.package: d for d in debian.parse_translation((RAW / f"Translation-{lang}").read_text(), lang)}


def splits(name: str) -> dict[str, list[dict]]:
    return {split: prepared_split(name, split, FIXTURES / name) for split in debian.SPLITS}


def test_parse_translation_reads_every_stanza():
    english = raw("en")
    assert sorted(english) == sorted(debian.FIXTURE_PACKAGES)
    assert english["0ad"].md5 == "d943033bedada21853d2ae54a2578a7b"
    assert english["0ad"].synopsis == "Real-time strategy game of ancient warfare"
    assert english["0ad"].long.startswith('0 A.D. (pronounced "zero ey-dee") is a free, open-source, cross-platform '
                                          "real-time strategy (RTS) game")  # wrapped lines joined with one space
    assert all(d.long and "." not in d.long.split("\n") and "\n\n" not in d.long for d in english.values())


def test_paragraph_breaks_become_single_newlines():
    assert raw("en")["0ad-data"].long.split("\n")[1] == "This package contains the main data files required by 0 A.D."


def test_bullets_and_verbatim_lines_keep_their_own_lines():
    flasher = raw("en")["0xffff"].long.split("\n")
    assert flasher[1] == "Supported operations currently include, but are not limited to:"
    assert flasher[2] == "* generating and unpacking FIASCO images on local device"
    assert flasher[-1] == "Supported are the Nokia 770, N800, N810, N810w, N900, N950 and N9."
    alsa = raw("en")["alsa-tools"].long.split("\n")
    assert alsa[1] == "as10k1 - An assembler for the EMU10K1 (EMU10K2) DSP chip"  # a verbatim list without bullets
    code = raw("en")["python3-aioxmlrpc"].long.split("\n")
    assert "import asyncio" in code and "from aioxmlrpc.client import ServerProxy" in code


def test_a_bullets_continuation_line_joins_it():
    lines = raw("en")["389-ds-base"].long.split("\n")
    assert lines[-1] == ("* on-line, zero downtime update of schema, configuration, and "
                         "in-tree Access Control Information.")
    assert debian.long_text([" Intro:", "  * one", "    more", "  * two", " Back to text."]) == \
        "Intro:\n* one more\n* two\nBack to text."


def test_translations_join_on_description_md5():
    stats = Counter()
    pairs = debian.translation_pairs(raw("en"), raw("de"), stats)
    by_package = {d.package: (source, target) for d, source, target in pairs}
    assert sorted(by_package) == ["0ad", "0ad-data", "alsa-tools", "apcalc"]
    assert stats["english_without_german"] == 3
    source, target = by_package["0ad"]
    assert source.startswith("Real-time strategy game of ancient warfare\n0 A.D.")
    assert target.startswith("Echtzeit-Strategiespiel über antike Kriegsführung\n0 A.D. ist ein freies")
    assert by_package["apcalc"] == ("transitional package\nThis is a transitional package. It can safely be removed.",
                                    "Übergangspaket\nDies ist ein Übergangspaket. Es kann sicher entfernt werden.")


def test_summary_pairs_keep_long_texts_only():
    stats = Counter()
    pairs = debian.summary_pairs(raw("en"), stats)
    assert {d.package for d, _, _ in pairs} == set(debian.FIXTURE_PACKAGES) - {"apcalc"}
    assert stats["dropped_short_long_text"] == 1  # apcalc: "This is a transitional package. ..."
    assert all(len(source.split()) >= debian.MIN_WORDS and target == d.synopsis for d, source, target in pairs)


def test_families_come_from_source_packages_without_affixes():
    sources = debian.parse_sources((RAW / "Packages").read_text())
    assert sources["python3-aioxmlrpc"] == "aioxmlrpc" and sources["0ad"] == "0ad"
    assert debian.family(sources["0ad-data"]) == debian.family("0ad") == "0ad"
    for name in ("libfoo3", "libfoo-dev", "libfoo-1.2-doc", "python3-foo", "python-foo", "r-cran-foo", "foo-utils",
                 "foo", "golang-github-foo", "libfoo3t64", "rust-foo"):
        assert debian.family(name) == "foo", name
    assert debian.family("php-defaults") == debian.family("php8.2") == "php"  # not a "defaults" family
    assert debian.family("2048") == "2048"  # never stripped to nothing


def test_family_split_is_stable_and_about_two_percent_each():
    counts = Counter(debian.split_of(f"family{i}") for i in range(20_000))
    assert 300 < counts["test"] < 500 and 300 < counts["valid"] < 500
    assert debian.split_of("0ad") == debian.split_of("0ad")


def test_eval_rows_sharing_a_rare_paragraph_with_train_are_dropped():
    own = "A media player with a tree-like virtual directory structure for your albums."
    boilerplate = "This package contains the development files needed to build against it."

    def row(fam: str, *paragraphs: str) -> dict:
        return {"family": fam, "source": "\n".join(paragraphs)}

    rows = {"train": [row("gmerlin-encoders", own), *(row(f"f{i}", boilerplate) for i in range(5))],
            "valid": [row("v", "Something else entirely, described in enough words here.", boilerplate)],
            "test": [row("gmerlin", own, "Short.")]}
    stats = Counter()
    debian._eval_rows_without_leaks(rows, stats)
    assert rows["test"] == [] and len(rows["valid"]) == 1
    assert stats["test_dropped_shared_paragraph"] == 1 and stats["valid_dropped_shared_paragraph"] == 0


@pytest.mark.parametrize("name", debian.NAMES)
def test_fixture_splits_hold_out_whole_families(name):
    rows = splits(name)
    assert {split: len(r) for split, r in rows.items()} == debian.FIXTURE_SIZES
    ids = [r["id"] for split_rows in rows.values() for r in split_rows]
    assert len(ids) == len(set(ids))
    for split, split_rows in rows.items():
        for r in split_rows:
            assert r["id"] == f"{name}/{r['package']}" and r["source"] and r["target"]
            assert debian.split_of(r["family"]) == split  # so no family is in two splits
    families = {split: {r["family"] for r in split_rows} for split, split_rows in rows.items()}
    assert not families["train"] & families["test"] and not families["train"] & families["valid"]


def test_fixture_debian_sum_has_no_test_text_in_train():
    rows = splits("debian-sum")
    train = {r["source"] for r in rows["train"]}
    assert not train & {r["source"] for r in rows["test"] + rows["valid"]}
    assert all(len(r["source"].split()) >= debian.MIN_WORDS for r in rows["train"] + rows["test"])
    assert all("\n" not in r["target"] and len(r["target"]) < len(r["source"]) for r in rows["test"])


def test_fixture_ddtp_targets_are_german():
    rows = [r for split_rows in splits("ddtp-en-de").values() for r in split_rows]
    assert all(r["source"] != r["target"] for r in rows)
    function_words = "der|die|das|dies|dieses|und|ist|ein|eine|mit|von|zur?|den|dem|sie"
    german = re.compile(rf"[äöüßÄÖÜ]|\b({function_words})\b", re.I)
    assert all(german.search(r["target"]) for r in rows)


@pytest.mark.parametrize("name", debian.NAMES)
def test_fixture_manifest_matches_files(name):
    manifest = json.loads((FIXTURES / name / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["name"] == name
    assert any(r.get("Codename") == "bookworm" for r in manifest["sources"]["releases"])
    assert manifest["sources"]["translation_files"] and manifest["sources"]["apt_version"]
    assert manifest["fixture_of"]["train"] > 10_000 and manifest["fixture_of"]["test"] > 100
    for split in debian.SPLITS:
        data = (FIXTURES / name / f"{split}.jsonl").read_bytes()
        assert manifest["splits"][split]["sha256"] == hashlib.sha256(data).hexdigest()
        assert manifest["splits"][split]["count"] == data.count(b"\n")


def test_unknown_name_suggests_the_close_one():
    with pytest.raises(BenchError, match="did you mean 'debian-sum'"):
        prepare("debian-summ")
    with pytest.raises(BenchError, match="did you mean 'ddtp-en-de'"):
        prepare("ddtp-en-fr")


def test_missing_packages_without_root_name_the_apt_command(monkeypatch):
    monkeypatch.setattr(apt.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(apt.subprocess, "run", lambda *a, **k: pytest.fail("must not run anything"))
    with pytest.raises(BenchError, match="run: sudo apt-get install wordnet-base"):
        apt.apt_install(["wordnet-base"], "instruct-mix")
