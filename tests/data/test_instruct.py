"""Offline checks of the instruct-mix builder, on raw WordNet and chatterbot snippets and the committed slice.

Both come from the real sources; regenerate them with `python -m l2s_bench.data.instruct fixture`.
"""

import hashlib
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from l2s_bench.data import instruct, prepare, prepared_split
from l2s_bench.errors import BenchError

FIXTURES = Path(__file__).parents[1] / "fixtures"
RAW = FIXTURES / "raw"
MIX = FIXTURES / "instruct-mix"


def splits() -> dict[str, list[dict]]:
    return {split: prepared_split("instruct-mix", split, MIX) for split in instruct.SPLITS}


def payload(row: dict) -> str:
    """The item inside the instruction, recovered through the row's own template."""
    pattern = re.escape(TEMPLATES_BY_ID[row["template"]]).replace(re.escape("{x}"), "(.+)")
    match = re.fullmatch(pattern, row["instruction"], re.S)
    assert match, (row["template"], row["instruction"])
    return match[1]


TEMPLATES_BY_ID = {f"{kind}-{i + 1}": t for kind, by_split in instruct.TEMPLATES.items()
                   for i, t in enumerate(by_split["train"])}
TEMPLATES_BY_ID |= {f"{kind}-{split}": by_split[split][0] for kind, by_split in instruct.TEMPLATES.items()
                    for split in ("valid", "test")}


def test_wordnet_index_gives_tagged_count_and_first_sense():
    nouns = instruct.parse_wordnet_index((RAW / "wordnet-index.noun").read_text())
    assert nouns["dog"] == (1, 2084071)
    assert nouns["run"] == (7, 189565)
    verbs = instruct.parse_wordnet_index((RAW / "wordnet-index.verb").read_text())
    assert verbs["run"] == (29, 1926329)


def test_wordnet_data_skips_the_licence_and_strips_adjective_markers():
    data = instruct.parse_wordnet_data((RAW / "wordnet-data.adj").read_text())
    assert all(offset > 0 for offset in data)  # the licence lines ("  1 This software ...") are not synsets
    assert data[1552162] == (["galore"], 'in great numbers; "daffodils galore"')  # "galore(ip)" in the file
    assert data[1382086][0] == ["large", "big"]


def test_gloss_definition_drops_example_sentences():
    dog = instruct.parse_wordnet_data((RAW / "wordnet-data.noun").read_text())[2084071][1]
    assert instruct.gloss_definition(dog) == ("a member of the genus Canis (probably descended from the common wolf) "
                                              "that has been domesticated by man since prehistoric times; "
                                              "occurs in many breeds")
    assert instruct.gloss_definition('in great numbers; "daffodils galore"') == "in great numbers"


def test_define_items_use_the_most_used_sense_and_skip_proper_and_untagged_words(tmp_path, monkeypatch):
    for pos in ("noun", "verb", "adj", "adv"):
        for part in ("index", "data"):
            source = RAW / f"wordnet-{part}.{pos}"
            target = tmp_path / f"{part}.{pos}"
            shutil.copy(source, target) if source.exists() else target.write_text("")
    monkeypatch.setattr(instruct, "WORDNET", tmp_path)
    stats = Counter()
    items = {lemma: (response, split) for lemma, _, response, split in instruct.define_items(stats)}
    assert set(items) == {"run", "dog", "big", "abstraction"}
    assert items["run"][0].startswith("move fast by using one's feet")  # the verb: 29 tagged senses against 7
    assert items["dog"][0].startswith("a member of the genus Canis")  # a tie (1 and 1): the noun comes first
    assert stats["define_skipped_proper_noun"] == 1  # "paris" is written "Paris"
    assert stats["define_skipped_untagged"] == 1  # "galore"


def test_chatterbot_pairs_are_consecutive_turns():
    pairs = instruct.chatterbot_pairs((RAW / "chatterbot-conversations.yml").read_text())
    assert pairs[:2] == [("Good morning, how are you?", "I am doing well, how about you?"),
                         ("I am doing well, how about you?", "I'm also good.")]
    assert ("Have you heard the news?", "What good news?") in pairs
    assert len(pairs) == 4 + 12 + 3 + 1  # conversations of 5, 13, 4 and 2 turns


def test_fixture_has_every_kind_in_every_split():
    for split, rows in splits().items():
        kinds = Counter(r["kind"] for r in rows)
        assert kinds == dict.fromkeys(instruct.KINDS, instruct.FIXTURE_SIZES[split]), split


def test_fixture_rows_are_their_templates_filled_in():
    for rows in splits().values():
        for r in rows:
            assert r["source"] == r["instruction"] and r["target"] == r["response"] and r["response"]
            assert r["id"].startswith(f"instruct-mix/{r['kind']}/") and payload(r)


def test_held_out_templates_never_appear_in_train():
    rows = splits()
    assert {r["template"] for r in rows["test"]} == {f"{kind}-test" for kind in instruct.KINDS}
    assert {r["template"] for r in rows["valid"]} == {f"{kind}-valid" for kind in instruct.KINDS}
    assert {r["template"] for r in rows["train"]} <= {f"{kind}-{i}" for kind in instruct.KINDS for i in (1, 2, 3)}
    for split in ("valid", "test"):
        for kind in instruct.KINDS:
            wording = max(instruct.TEMPLATES[kind][split][0].split("{x}"), key=len).strip()
            assert not any(wording in r["instruction"] for r in rows["train"]), wording


def test_held_out_items_never_appear_in_train():
    rows = splits()
    ids = [r["id"] for split_rows in rows.values() for r in split_rows]
    assert len(ids) == len(set(ids))
    train = {(r["kind"], payload(r)) for r in rows["train"]}
    for r in rows["valid"] + rows["test"]:
        assert (r["kind"], payload(r)) not in train


def test_fixture_manifest_matches_files():
    manifest = json.loads((MIX / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "instruct-mix"
    assert manifest["sources"]["chatterbot-corpus"] == "1.3.3" and manifest["sources"]["wordnet-base"]
    assert manifest["filters"]["define_train"] == instruct.SIZES["train"]
    assert manifest["filters"]["answer_test"] > 50
    for split in instruct.SPLITS:
        data = (MIX / f"{split}.jsonl").read_bytes()
        assert manifest["splits"][split]["sha256"] == hashlib.sha256(data).hexdigest()
        assert manifest["splits"][split]["count"] == data.count(b"\n")


def test_unknown_name_suggests_the_close_one():
    with pytest.raises(BenchError, match="did you mean 'instruct-mix'"):
        prepare("instruct-mx")


def test_missing_chatterbot_corpus_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(instruct.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BenchError, match=r"pip install chatterbot-corpus==1\.3\.3"):
        instruct.answer_items(Counter())
