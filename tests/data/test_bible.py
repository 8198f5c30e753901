"""Offline checks of the Bible pair builder, on raw SWORD snippets and the committed kjv-web slice.

Both come from the real Debian modules; regenerate them with `python -m l2s_bench.data.bible fixture`.
"""

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from l2s_bench.data import apt, bible, prepare, prepared_split
from l2s_bench.errors import BenchError

FIXTURES = Path(__file__).parents[1] / "fixtures"
KJV_WEB = FIXTURES / "kjv-web"


def raw(module: str) -> dict[str, str]:
    return bible.parse_imp((FIXTURES / "bible" / f"{module}.imp").read_text(encoding="utf-8"))


def texts(module: str) -> dict[str, str]:
    """{OSIS ref: clean text} for a snippet, through the same path prepare() uses."""
    return {ref: v.text for ref, v in bible.verses(raw(module), module, Counter()).items()}


def rows(split: str) -> list[dict]:
    return prepared_split("kjv-web", split, KJV_WEB)


@pytest.mark.parametrize("module", list(bible.FIXTURE_REFS))
def test_parse_imp_keys_and_bodies(module):
    entries = raw(module)
    assert list(entries) == bible.FIXTURE_REFS[module].split("|")
    assert all(body and "$$$" not in body and not body.endswith("\n") for body in entries.values())
    assert bible.book_ids(entries) == {"Genesis": "Gen"}  # from <chapter osisID="Gen.1"> in "Genesis 1:0"


@pytest.mark.parametrize("module", list(bible.FIXTURE_REFS))
def test_clean_leaves_no_markup(module):
    entries = raw(module)
    assert any("<" in body for body in entries.values())  # the snippet really has markup to remove
    for text in texts(module).values():
        assert not re.search(r"[<>¶]|strong:|lemma|&\w+;|\\", text), text
        assert text == text.strip() and "  " not in text and not re.search(r" [,.;:!?’”]", text), text


def test_chapter_and_book_introductions_are_not_verses():
    assert "Gen.1.0" not in texts("engKJV2006eb")
    assert "Gen.1.4" in texts("engKJV2006eb")


def test_note_between_two_words_keeps_them_apart():
    web = raw("engWEB2015eb")["Genesis 1:1"]
    naive = re.sub(r"<[^>]*>", "", re.sub(r"<note\b.*?</note>", "", web))
    assert "Godcreated" in naive  # the real WEB markup glues these under a naive strip
    assert texts("engWEB2015eb")["Gen.1.1"] == "In the beginning, God created the heavens and the earth."


def test_tag_inside_a_word_does_not_split_it():
    assert raw("engKJV2006eb")["John 13:20"].count("tha</w>t") == 1
    assert "He that receiveth whomsoever" in texts("engKJV2006eb")["John.13.20"]


def test_no_space_is_left_before_closing_punctuation():
    assert "’</q> ”" in raw("engWEB2015eb")["John 5:11"]
    assert texts("engWEB2015eb")["John.5.11"].endswith("‘Take up your mat and walk.’”")


def test_usfm_leftovers_are_removed():
    assert "\\nd <w" in raw("engKJV2006eb")["Exodus 6:3"]
    assert "but by my name JEHOVAH was I not known" in texts("engKJV2006eb")["Exodus.6.3"]


def test_footnotes_cross_references_headings_and_speakers_are_removed_with_their_content():
    kjv, web = texts("engKJV2006eb"), texts("engWEB2015eb")
    assert "Heb." not in kjv["Gen.1.4"] and kjv["Gen.1.4"].endswith("from the darkness.")
    assert "holinesses" not in kjv["IIKings.12.4"]
    assert kjv["IIKings.12.4"].startswith("And Jehoash said")  # the raw verse starts "¶ And"
    assert "BETH" not in kjv["Psalms.119.9"]  # acrostic heading
    assert "written to Titus" not in kjv["Titus.3.15"]  # subscription, marked as a non-canonical title
    assert "Elohim" not in web["Gen.1.1"]
    assert "Exodus 30:12" not in web["IIKings.12.4"]  # crossReference note
    assert "Hebrew" not in web["IIChronicles.23.3"] and "Jehoiada said" in web["IIChronicles.23.3"]
    assert not web["SongofSolomon.1.2"].startswith("Beloved")  # speaker label


def test_canonical_psalm_titles_stay_in_verse_one():
    assert texts("engKJV2006eb")["Psalms.3.1"].startswith("A Psalm of David, when he fled from Absalom his son. LORD,")
    assert texts("engWEB2015eb")["Psalms.3.1"].startswith("A Psalm by David, when he fled from Absalom")
    assert texts("spaRV1909eb")["Psalms.3.1"].startswith("Salmo de David, cuando huía")


@pytest.fixture
def no_sword(monkeypatch, tmp_path):
    """No SWORD modules installed: what the builder reads must come from its own tables and the fixtures."""
    monkeypatch.setenv("SWORD_PATH", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(bible, "module_conf", lambda module: None)


def test_reina_valera_quirks(no_sword):
    spa = texts("spaRV1909eb")
    # chapter-initial capitals: "EN el", "Y ACONTECIÓ", "Y JEHOVÁ", "¡OH Jehová" in the raw text
    assert spa["Gen.1.1"] == "En el principio crió Dios los cielos y la tierra."
    assert spa["Ruth.1.1"].startswith("Y aconteció en los días que gobernaban los jueces")
    assert spa["Exodus.7.1"].startswith("Y Jehová dijo á Moisés")  # "Jehová" is capitalised elsewhere
    assert "¡Oh Jehová" in spa["Psalms.3.1"]
    assert spa["Mark.6.16"].startswith("Y oyéndolo Herodes,")  # enclitic "oyéndo</w><transChange>lo"
    assert "para que la tengan" in spa["John.10.10"]  # "que</w><transChange>la": not a verb, stays apart
    assert "de Jehová los acose" in spa["Psalms.35.5"]
    assert "para siempre es su misericordia" in spa["Psalms.106.1"]  # "siempre</w><transChange>es"
    assert spa["Titus.3.15"].endswith("con todos vosotros. Amén.")  # subscription "A Tito, ..." dropped
    assert "Tito" in raw("spaRV1909eb")["Titus 3:15"]


def test_cleaning_stats_count_what_was_removed():
    stats = Counter()
    bible.clean(raw("engWEB2015eb")["Genesis 1:1"], "en", stats)
    assert stats["note_elements_removed"] == 1
    assert stats["strongs_tags_removed"] == 10  # one <w lemma="strong:..."> per tagged word
    assert stats["tags_removed"] == 20


def test_front_and_back_matter_spans_are_dropped():
    # The real end of the WEB's Revelation 22:21, which carries the whole glossary after it.
    tail = ('saints. Amen.  <chapter eID="Rev.22"/><div canonical="true" eID="g1" osisID="Rev" type="book"/> '
            '<div sID="gen35837" type="glossary"/> <title level="1" type="main">World English Bible Glossary</title> '
            '<div sID="gen35839" type="x-p"/> The following words used in the World English Bible')
    assert bible.clean(tail) == "saints. Amen."


def test_misnumbered_verses_are_found_by_strongs_numbers():
    def verse(*numbers: str) -> bible.Verse:
        return bible.Verse("Job", "", "text", frozenset(numbers))

    pivot = {f"Job.39.{n}": verse(f"H{n}", f"H{n}0") for n in range(1, 8)}
    shifted = {f"Job.39.{n}": verse(f"H{n + 1}", f"H{n + 1}0") for n in range(1, 4)}
    aligned = {f"Job.39.{n}": verse(f"H{n}", f"H{n}0", "H999") for n in range(4, 8)}
    assert bible.misnumbered({**shifted, **aligned}, pivot) == set(shifted)


def test_fixture_splits_hold_out_whole_books_without_leakage():
    splits = {split: rows(split) for split in bible.SPLITS}
    assert {split: len(r) for split, r in splits.items()} == bible.FIXTURE_SIZES
    ids = [r["id"] for split_rows in splits.values() for r in split_rows]
    assert len(ids) == len(set(ids))
    books = {split: {r["book"] for r in split_rows} for split, split_rows in splits.items()}
    assert not books["train"] & books["valid"] and not books["train"] & books["test"]
    assert not books["valid"] & books["test"]
    assert books["test"] <= set(bible.TEST_BOOKS) and books["valid"] <= set(bible.VALID_BOOKS)
    for r in splits["train"] + splits["valid"] + splits["test"]:
        assert r["id"] == f"kjv-web/{r['book']}.{r['ref'].rsplit(' ', 1)[1].replace(':', '.')}"
        assert r["source"] and r["target"] and len(r["source"].split()) <= 20
    pairs = splits["train"] + splits["valid"] + splits["test"]
    assert sum(r["source"] == r["target"] for r in pairs) < 0.1 * len(pairs)  # the WEB keeps a few KJV verses as is


def test_fixture_manifest_matches_files():
    manifest = json.loads((KJV_WEB / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "kjv-web"
    assert (manifest["source"]["module"], manifest["target"]["module"]) == bible.PAIRS["kjv-web"]
    assert manifest["source"]["version"] and manifest["target"]["version"]
    assert manifest["cleaning"]["source"]["strongs_tags_removed"] > 100_000
    for split in bible.SPLITS:
        data = (KJV_WEB / f"{split}.jsonl").read_bytes()
        assert manifest["splits"][split]["sha256"] == hashlib.sha256(data).hexdigest()
        assert manifest["splits"][split]["count"] == data.count(b"\n")


def test_unknown_name_suggests_the_close_one():
    with pytest.raises(BenchError, match="did you mean 'kjv-web'"):
        prepare("kjv-wbe")
    with pytest.raises(BenchError, match="did you mean 'bible-en-es'"):
        prepared_split("bible-en-ess", "test")


def test_missing_prepared_data_says_how_to_prepare(tmp_path):
    with pytest.raises(BenchError, match=r"run `l2s-bench data prepare bible-en-es`"):
        prepared_split("bible-en-es", "train", tmp_path)
    with pytest.raises(BenchError, match="unknown split"):
        prepared_split("kjv-web", "dev", KJV_WEB)


def test_missing_sword_tools_without_root_names_the_apt_command(monkeypatch):
    monkeypatch.setattr(bible.shutil, "which", lambda name: None)
    monkeypatch.setattr(bible, "module_conf", lambda module: None)
    monkeypatch.setattr(apt.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(apt.subprocess, "run", lambda *a, **k: pytest.fail("must not run anything"))
    with pytest.raises(BenchError, match="apt-get install libsword-utils sword-text-kjv"):
        bible.export_module("engKJV2006eb")


def test_cleaning_does_not_depend_on_the_installed_modules(no_sword):
    """A fresh machine without sword-text-sparv once cleaned "oyéndo lo" apart (the language was read from
    /usr/share/sword); the language comes from the builder's table."""
    assert bible.LANGS["spaRV1909eb"] == "es"
    assert texts("spaRV1909eb")["Mark.6.16"].startswith("Y oyéndolo Herodes,")


def test_an_unknown_module_language_is_one_clear_error():
    with pytest.raises(BenchError, match="no language known"):
        bible.verses(raw("engKJV2006eb"), "xyzNEW2030", Counter())
