"""instruct-mix: instructions and responses from real sources, four kinds of task, balanced.

  define     "Define the word X."           -> X's WordNet gloss (Debian wordnet-base; the lemma's most used sense)
  summarize  "Summarize this package ..."   -> the package's synopsis (debian-sum rows of at most 80 words)
  modernize  "Rewrite this KJV verse ..."   -> the same verse in the World English Bible (kjv-web, at most 30 words)
  answer     a chatterbot-corpus message     -> its reply in the English corpus (PyPI chatterbot-corpus==1.3.3)

Each kind has three train templates, one valid template and one test template: valid and test measure following
an instruction phrased in a way never trained on. Items are held out too: valid and test hold WordNet synsets,
package families (the debian-sum split), Bible books (the kjv-web split) and chatterbot messages absent from
train, and a valid or test row whose payload (or, except for chat replies, response) occurs in train is dropped.
Every choice is by a stable hash, so rebuilding gives the same rows.
Regenerate the committed test fixtures with `python -m l2s_bench.data.instruct fixture`.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import importlib.util
import re
import subprocess
import sys
from collections import Counter
from importlib import metadata
from pathlib import Path

import yaml

from l2s_bench.data import DATASETS, SPLITS, write_splits, debian, prepared_split
from l2s_bench.data import prepare as prepare_dataset
from l2s_bench.data.apt import apt_install
from l2s_bench.errors import BenchError
from l2s_bench.paths import cache_path

NAME = "instruct-mix"
SIZES = {"train": 4000, "valid": 100, "test": 200}  # per kind, at most
MAX_WORDS = {"summarize": 80, "modernize": 30}  # payload words
CHATTERBOT = "chatterbot-corpus==1.3.3"
WORDNET = Path("/usr/share/wordnet")
# WordNet synsets and chatterbot messages go to valid/test by a stable hash (per mille); the others reuse their
# data set's split.
HELD_OUT_PERMILLE = {"define": (50, 50), "answer": (100, 50)}  # (test, valid)
TEMPLATES = {  # kind -> split -> templates; "{x}" is the payload
    "define": {"train": ("Define the word {x}.", 'What does "{x}" mean?', "Give a short definition of {x}."),
               "valid": ("Explain the meaning of the word {x}.",),
               "test": ('What is the meaning of "{x}"?',)},
    "summarize": {"train": ("Summarize this package description in one line:\n\n{x}",
                            "Write a one-line synopsis for the software described below.\n\n{x}",
                            "{x}\n\nDescribe this package in a few words."),
                  "valid": ("Give a short title for this description:\n\n{x}",),
                  "test": ("In one short line, what is this package?\n\n{x}",)},
    "modernize": {"train": ("Rewrite this King James Bible verse in modern English:\n\n{x}",
                            "Translate this verse from the King James Version into today's English: {x}",
                            "{x}\n\nSay this in plain modern English."),
                  "valid": ("Put this old-fashioned verse into contemporary English:\n\n{x}",),
                  "test": ("How would this King James verse read in modern English?\n\n{x}",)},
    "answer": {"train": ("{x}", "Reply to this message: {x}", 'Someone says: "{x}" What do you answer?'),
               "valid": ("Respond to the following.\n\n{x}",),
               "test": ("Give a reply to this message:\n\n{x}",)},
}
KINDS = tuple(TEMPLATES)
Item = tuple[str, str, str, str]  # (item key for the id, payload, response, split)


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _normal(text: str) -> str:
    """Case and punctuation folded: "Hi!" and "hi" are one item."""
    return " ".join(re.findall(r"\w+", text.lower()))


def _held_out(key: str, kind: str) -> str:
    test, valid = HELD_OUT_PERMILLE[kind]
    bucket = _hash(f"{kind}:{key}") % 1000
    return "test" if bucket < test else "valid" if bucket < test + valid else "train"


def gloss_definition(gloss: str) -> str:
    """The definition part of a WordNet gloss, without its quoted example sentences."""
    return re.split(r';?\s*"', gloss, maxsplit=1)[0].strip().rstrip(";").strip()


def parse_wordnet_data(text: str) -> dict[int, tuple[list[str], str]]:
    """{synset offset: (words as written, gloss)} from a data.<pos> file; the licence header is skipped."""
    out = {}
    for line in text.splitlines():
        if line.startswith("  ") or "|" not in line:
            continue
        head, gloss = line.split("|", 1)
        fields = head.split()
        words = [re.sub(r"\(\w+\)$", "", w) for w in fields[4:4 + 2 * int(fields[3], 16):2]]  # drop "(a)" markers
        out[int(fields[0])] = (words, gloss.strip())
    return out


def parse_wordnet_index(text: str) -> dict[str, tuple[int, int]]:
    """{lemma: (tagged sense count, offset of its first sense)}; WordNet orders senses by frequency."""
    out = {}
    for line in text.splitlines():
        if line.startswith("  "):
            continue
        fields = line.split()
        pointers = int(fields[3])
        out[fields[0]] = (int(fields[5 + pointers]), int(fields[6 + pointers]))
    return out


def define_items(stats: Counter) -> list[Item]:
    """One item per single-word lemma: its most used part of speech's first sense, most frequent lemmas first."""
    if not (WORDNET / "data.noun").exists():
        apt_install(["wordnet-base"], "instruct-mix (WordNet glosses)")
    best: dict[str, tuple[int, str, int]] = {}  # lemma -> (tagged count, pos, offset); ties keep the earlier pos
    for pos in ("noun", "verb", "adj", "adv"):
        for lemma, (tagged, offset) in parse_wordnet_index((WORDNET / f"index.{pos}").read_text()).items():
            if re.fullmatch(r"[a-z]+(-[a-z]+)*", lemma) and tagged > best.get(lemma, (-1,))[0]:
                best[lemma] = (tagged, pos, offset)
    data = {pos: parse_wordnet_data((WORDNET / f"data.{pos}").read_text()) for pos in ("noun", "verb", "adj", "adv")}
    items = []
    for lemma, (tagged, pos, offset) in sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0])):
        words, gloss = data[pos][offset]
        if tagged == 0:  # never seen in the sense-tagged corpus: rare words
            stats["define_skipped_untagged"] += 1
            continue
        if next((w for w in words if w.lower() == lemma), lemma) != lemma:  # "Paris", "Monday": a proper noun
            stats["define_skipped_proper_noun"] += 1
            continue
        items.append((lemma, lemma, gloss_definition(gloss), _held_out(f"{pos}{offset}", "define")))
    return items


def summarize_items(stats: Counter) -> list[Item]:
    rows, _ = debian.build("debian-sum")
    items = [(r["package"], r["source"], r["target"], split) for split in SPLITS for r in rows[split]]
    kept = [item for item in items if len(item[1].split()) <= MAX_WORDS["summarize"]]
    stats["summarize_skipped_long"] = len(items) - len(kept)
    return kept


def modernize_items(stats: Counter) -> list[Item]:
    if not (cache_path("data", "kjv-web") / "manifest.json").exists():
        prepare_dataset("kjv-web")
    items = [(r["id"].split("/", 1)[1], r["source"], r["target"], split)
             for split in SPLITS for r in prepared_split("kjv-web", split)]
    kept = [item for item in items if len(item[1].split()) <= MAX_WORDS["modernize"]]
    stats["modernize_skipped_long"] = len(items) - len(kept)
    return kept


def chatterbot_pairs(text: str) -> list[tuple[str, str]]:
    """(message, reply) for each pair of consecutive turns in a chatterbot-corpus YAML file."""
    pairs = []
    for turns in (yaml.safe_load(text) or {}).get("conversations") or []:
        turns = [" ".join(str(t).split()) for t in turns]
        pairs += [(a, b) for a, b in zip(turns, turns[1:]) if a and b]
    return pairs


def answer_items(stats: Counter) -> list[Item]:
    if importlib.util.find_spec("chatterbot_corpus") is None:
        raise BenchError(f"instruct-mix needs the chatterbot corpus; run: pip install {CHATTERBOT}")
    english = importlib.resources.files("chatterbot_corpus") / "data" / "english"
    pairs = [p for f in sorted(english.iterdir(), key=lambda f: f.name) if f.name.endswith(".yml")
             for p in chatterbot_pairs(f.read_text(encoding="utf-8"))]
    unique = list(dict.fromkeys(pairs))  # tech_support.yml repeats its pairs many times
    stats["answer_duplicate_pairs"] = len(pairs) - len(unique)
    # trivia.yml holds a sentence split into one-character turns ("I", "n", " ", "a", ...): not a dialogue.
    unique = [(message, reply) for message, reply in unique if re.search(r"\w\w", message)]
    stats["answer_dropped_one_character_message"] = len(pairs) - stats["answer_duplicate_pairs"] - len(unique)
    items = []
    for message, reply in unique:
        pair_id = hashlib.sha256(f"{message}\t{reply}".encode()).hexdigest()[:12]
        items.append((pair_id, message, reply, _held_out(_normal(message), "answer")))
    return items


def rows_for(kind: str, items: list[Item], stats: Counter) -> dict[str, list[dict]]:
    """Up to SIZES rows per split (hash order), each with one of its split's templates; eval rows whose payload
    (or response, except for chat replies, which repeat: "Yes.") occurs in train are dropped first."""
    by_split = {split: [i for i in items if i[3] == split] for split in SPLITS}
    fields = (1,) if kind == "answer" else (1, 2)
    seen = {_normal(i[f]) for i in by_split["train"] for f in fields}
    for split in ("valid", "test"):
        fresh = [i for i in by_split[split] if all(_normal(i[f]) not in seen for f in fields)]
        stats[f"{kind}_{split}_dropped_seen_in_train"] = len(by_split[split]) - len(fresh)
        by_split[split] = fresh
    out: dict[str, list[dict]] = {}
    for split, chosen in by_split.items():
        if kind in ("summarize", "modernize", "answer"):  # no frequency order: a stable sample
            chosen = sorted(chosen, key=lambda i: _hash(f"{kind}/{i[0]}"))
        templates, rows = TEMPLATES[kind][split], []
        for key, payload, response, _ in chosen[:SIZES[split]]:
            number = _hash(key) % len(templates)
            instruction = templates[number].format(x=payload)
            template = f"{kind}-{split}" if split != "train" else f"{kind}-{number + 1}"
            rows.append({"id": f"{NAME}/{kind}/{key}", "kind": kind, "template": template,
                         "instruction": instruction, "response": response, "source": instruction, "target": response})
        out[split] = sorted(rows, key=lambda r: r["id"])
    return out


def build(name: str = NAME) -> tuple[dict[str, list[dict]], dict]:
    """Rows per split (kind by kind, by id) plus the manifest's metadata."""
    stats: Counter = Counter()
    makers = {"define": define_items, "summarize": summarize_items, "modernize": modernize_items,
              "answer": answer_items}
    rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for kind in KINDS:
        for split, kind_rows in rows_for(kind, makers[kind](stats), stats).items():
            rows[split] += kind_rows
            stats[f"{kind}_{split}"] = len(kind_rows)
    wordnet = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "wordnet-base"], capture_output=True, text=True)
    kjv_web = json.loads((cache_path("data", "kjv-web") / "manifest.json").read_text(encoding="utf-8"))
    sources = {"wordnet-base": wordnet.stdout or None, "chatterbot-corpus": metadata.version("chatterbot-corpus"),
               "debian": debian.source_info(debian.lists_dir())["releases"],
               "kjv-web": {role: kjv_web[role] for role in ("source", "target")}}
    return rows, {"name": NAME, "sources": sources, "templates": TEMPLATES, "sizes_per_kind": SIZES,
                  "max_payload_words": MAX_WORDS, "held_out_permille": HELD_OUT_PERMILLE,
                  "filters": dict(sorted(stats.items()))}


if __name__ != "__main__":  # under `python -m` this file runs again, after l2s_bench.data registered its first copy
    DATASETS.register(NAME)(build)

FIXTURE_SIZES = {"train": 50, "valid": 5, "test": 10}  # per kind
FIXTURE_LEMMAS = {"noun": {"dog", "run", "paris", "abstraction"}, "verb": {"run", "dog"}, "adj": {"galore", "big"}}


def make_fixture(root: Path = Path("tests/fixtures")) -> None:
    """Small real slices for offline tests, the shortest rows of each kind and split; plus raw WordNet and
    chatterbot text."""
    rows, manifest = build()
    picked = {split: sorted((r for kind in KINDS for r in debian.shortest(
        [r for r in rows[split] if r["kind"] == kind], n, "instruction")), key=lambda r: r["id"])
        for split, n in FIXTURE_SIZES.items()}
    manifest["fixture_of"] = {split: len(rows[split]) for split in SPLITS}
    write_splits(root / NAME, picked, manifest)
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for pos, lemmas in FIXTURE_LEMMAS.items():
        index = [line for line in (WORDNET / f"index.{pos}").read_text().splitlines(keepends=True)
                 if line.split(" ", 1)[0] in lemmas]
        first = {parse_wordnet_index(line)[line.split(" ", 1)[0]][1] for line in index}
        data = (WORDNET / f"data.{pos}").read_text().splitlines(keepends=True)
        (raw / f"wordnet-index.{pos}").write_text("".join(index))
        synsets = [line for line in data if not line.startswith("  ") and int(line.split(" ", 1)[0]) in first]
        (raw / f"wordnet-data.{pos}").write_text("".join(data[:2] + synsets))  # two licence lines, to skip
    conversations = (importlib.resources.files("chatterbot_corpus") / "data" / "english" / "conversations.yml")
    (raw / "chatterbot-conversations.yml").write_text("\n".join(conversations.read_text().splitlines()[:27]) + "\n")


if __name__ == "__main__":  # `l2s-bench data prepare instruct-mix` (bench/l2s_bench/cli.py) is the way to prepare data
    if sys.argv[1:] != ["fixture"]:
        sys.exit("usage: python -m l2s_bench.data.instruct fixture")
    make_fixture()
