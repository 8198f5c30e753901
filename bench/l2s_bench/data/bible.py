"""Bible verse pairs from Debian's public-domain SWORD modules: offline, translator-aligned, free of licences.

  kjv-web      King James Version (engKJV2006eb) -> World English Bible (engWEB2015eb): archaic to modern English.
  bible-en-es  World English Bible -> Reina-Valera 1909 (spaRV1909eb): English to Spanish.

Splits hold out whole books, because verses of one book share names, formulas and refrains that a random
verse split would leak. Short books from both testaments and several genres:
  test  = Ruth, Jonah, Zephaniah, Titus, Philemon, 2 John, Jude    (295 verses in KJV numbering)
  valid = Obadiah, Nahum, Habakkuk, Haggai, 2 Thessalonians        (209 verses)
Joel is not held out because Acts 2 (train) quotes it at length, nor 3 John because the WEB's NRSVA
versification numbers its end differently. Looser echoes remain (Jude/2 Peter, Obadiah/Jeremiah 49).
Regenerate the committed test fixtures with `python -m l2s_bench.data.bible fixture`.
"""

from __future__ import annotations

import hashlib
import html
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from l2s_bench.data import DATASETS, write_splits
from l2s_bench.data.apt import apt_install
from l2s_bench.errors import BenchError, did_you_mean
from l2s_bench.files import write_atomic

PAIRS = {"kjv-web": ("engKJV2006eb", "engWEB2015eb"), "bible-en-es": ("engWEB2015eb", "spaRV1909eb")}
PACKAGES = {"engKJV2006eb": "sword-text-kjv", "engWEB2015eb": "sword-text-web", "spaRV1909eb": "sword-text-sparv"}
# Each module's language, from this table and never from the installed module's .conf: the cleaning depends on
# it, and it must not depend on which Debian packages the machine happens to have installed.
LANGS = {"engKJV2006eb": "en", "engWEB2015eb": "en", "spaRV1909eb": "es"}
TEST_BOOKS = ("Ruth", "Jonah", "Zeph", "Titus", "Phlm", "2John", "Jude")
VALID_BOOKS = ("Obad", "Nah", "Hab", "Hag", "2Thess")
SPLITS = ("train", "valid", "test")
SPLIT_OF = {**dict.fromkeys(TEST_BOOKS, "test"), **dict.fromkeys(VALID_BOOKS, "valid")}  # other books: "train"
CONF_KEYS = ("Version", "SwordVersionDate", "Description", "Versification", "Lang")
# eBible's RV1909 keeps Hebrew-style verse numbers in some chapters (Numbers 13, Job 39-40, Jonah 2, ...) though
# its conf says KJV versification, and keeps print habits (_DROP_CAP, _SUBSCRIPTION) in its text. Its Strong's tags,
# compared with the KJV's (PIVOT), find the misnumbered verses. The WEB's tags cannot: they are machine-projected.
PIVOT, RENUMBERED, PRINT_HABITS = "engKJV2006eb", {"spaRV1909eb"}, {"spaRV1909eb"}
# A translation that omits or adds half a verse (KJV 1 John 5:7) makes a misleading pair. Judged against the
# pair's median (source + 20 chars) / (target + 20 chars); the 20 keeps "Jesus wept." from counting.
MAX_LENGTH_RATIO = 2.0

# Apparatus, not verse text: footnotes, cross-references, editorial headings, speaker labels (Song of Songs),
# GBF footnotes and titles. Canonical titles (psalm superscriptions) stay: RV1909 has them inside verse 1.
_DROP = re.compile(r"<(note|speaker)\b[^>]*(?<!/)>.*?</\1>|<title\b(?![^>]*canonical=\"true\")[^>]*(?<!/)>.*?</title>"
                   r"|<RF>.*?<Rf>|<TS>.*?<Ts>", re.S)
# Front/back matter between milestone divs; the WEB appends its whole glossary to Revelation 22:21.
_SPAN = re.compile(r"<div\b[^>]*\bsID=\"([^\"]+)\"[^>]*\btype=\"(?:introduction|glossary|front|back|preface|colophon)\""
                   r"[^>]*/>.*?(?:<div\b[^>]*\beID=\"\1\"[^>]*/>|\Z)", re.S)
_TAG = re.compile(r"<[^<>]*>")
_TAG_RUN = re.compile(r"(?:<[^<>]*>)+")
_TAG_NAME = re.compile(r"</?\s*([A-Za-z]+)")
_STRONGS = re.compile(r"strong:|type=\"Strongs\"|^<W?[HG]\d")
# Inline wrappers around words. A lone open or close tag of these sits inside a word (KJV "tha</w>t");
# any other tag, or a close followed by an open ("siempre</w><transChange>es"), separates words.
_INLINE = {"w", "transChange", "divineName", "seg", "hi", "foreign", "name"}
# RV1909 marks some enclitic pronouns as additions: "oyéndo</w><transChange>lo" is one word, "oyéndolo".
_ENCLITIC = re.compile(r"(?<!\w)(?!(?:Jehová|Josué|cuánto|[áéó])</w>)"  # not after a name or a preposition,
                       r"(\w*(?:[aei]r|ndo|[aei]d|[áéíóú]\w*)|di|haz|da|vi)</w>"  # after a verb-like word
                       r"<transChange\b[^>]*>(l[aeo]s?|[mts]e|nos|os)</transChange>", re.I)
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?)\]’”»])")
_SPACE_AFTER = re.compile(r"([(\[“‘¿¡«])\s+")
_USFM = re.compile(r"\\\+?[a-z]+\d*\*?")  # markers the KJV's converter left in the text ("\nd JEHOVAH")
# RV1909 print habits: each chapter's first words in capitals, caught with the word before ("Y ACONTECIÓ"), and
# after a letter's last "Amén." its subscription ("Escrita de Roma..."), which the KJV marks as a non-canonical title.
_DROP_CAP = re.compile(r"(\b(?:\w|\w*[a-zá-ü]\w*) )?\b([A-ZÁ-Ü]{2,}(?: [A-ZÁ-Ü]{2,})*)\b")
_SUBSCRIPTION = re.compile(r"(Amén\.) (?=.*\b(?:[Ee]scrita|[Ee]nviada)\b).*$")


class Verse(NamedTuple):
    book: str  # OSIS id, e.g. "2John"
    ref: str  # SWORD ref, e.g. "II John 1:3"
    text: str
    strongs: frozenset[str]  # Strong's numbers of the original-language words, to check numbering


_NO_VERSE = Verse("", "", "", frozenset())


def parse_imp(text: str) -> dict[str, str]:
    """Split `mod2imp` output into {key: raw markup}; keys are SWORD refs such as "II John 1:3"."""
    chunks = re.split(r"^\$\$\$(.*)\n?", text, flags=re.M)
    return {key.strip(): body.rstrip("\n") for key, body in zip(chunks[1::2], chunks[2::2])}


def _replace_tag_run(match: re.Match[str]) -> str:
    tags = _TAG.findall(match.group(0))
    if any((m := _TAG_NAME.match(t)) is None or m[1] not in _INLINE for t in tags):
        return " "
    return " " if any(a.startswith("</") and not b.startswith("</") for a, b in zip(tags, tags[1:])) else ""


def clean(raw: str, lang: str = "en", stats: Counter | None = None) -> str:
    """Markup to plain text that keeps the word boundaries a naive tag strip loses ("God</w><note/>created")."""
    stats = Counter() if stats is None else stats

    def removed(m: re.Match[str]) -> str:
        stats[f"{_TAG_NAME.match(m.group(0))[1].lower()}_elements_removed"] += 1
        return " "

    text = _DROP.sub(removed, _SPAN.sub(removed, raw))
    tags = _TAG.findall(text)
    stats["tags_removed"] += len(tags)
    stats["strongs_tags_removed"] += sum(1 for t in tags if _STRONGS.search(t))
    if lang == "es":  # the close tag left after the joined word keeps the next word apart
        text, joined = _ENCLITIC.subn(r"\1\2</w>", text)
        stats["enclitics_joined"] += joined
    text = " ".join(_USFM.sub(" ", html.unescape(_TAG_RUN.sub(_replace_tag_run, text))).replace("¶", " ").split())
    return _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", text))


def _recase(m: re.Match[str], usual: Counter) -> str:
    """Each word of a drop-capital run takes its usual mid-sentence casing, plus a capital if it opens a sentence."""
    words = " ".join(max((w.lower(), w.capitalize()), key=usual.__getitem__) for w in m[2].split())
    return m[1] + words if m[1] else words[0].upper() + words[1:]


def module_conf(module: str) -> dict[str, str] | None:
    """The module's .conf (Version, Lang, ...), or None when SWORD does not have it installed."""
    roots = [Path(r) for r in (os.environ.get("SWORD_PATH"), Path.home() / ".sword", "/usr/share/sword") if r]
    for conf in sorted(p for root in roots for p in (root / "mods.d").glob("*.conf")):
        lines = conf.read_text(encoding="utf-8", errors="replace").splitlines()
        if next((line.strip() for line in lines if line.strip().startswith("[")), "") == f"[{module}]":
            return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return None


def export_module(module: str) -> str:
    """Raw `mod2imp` output; installs the Debian packages on first use when root, else says what to run."""
    missing = [] if shutil.which("mod2imp") else ["libsword-utils"]
    missing += [] if module_conf(module) else [PACKAGES[module]]
    if missing:
        apt_install(missing, "the SWORD Bible modules")
    done = subprocess.run(["mod2imp", module], capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        raise BenchError(f"mod2imp {module} failed: {done.stderr.strip()[:300]}")
    return done.stdout


def book_ids(entries: dict[str, str]) -> dict[str, str]:
    """SWORD book name -> OSIS id ("II John" -> "2John"), read from the module's own <chapter osisID=...> tags."""
    seen: dict[str, Counter] = {}
    for key, raw in entries.items():
        for osis in re.findall(r"<chapter\b[^>]*\bosisID=\"([^\".]+)\.\d+\"", raw):
            seen.setdefault(key.rsplit(" ", 1)[0], Counter())[osis] += 1
    return {book: ids.most_common(1)[0][0] for book, ids in seen.items()}


def verses(entries: dict[str, str], module: str, stats: Counter) -> dict[str, Verse]:
    """{OSIS ref "2John.1.3": Verse} for every non-empty verse; chapter and book introductions are skipped."""
    if module not in LANGS:
        raise BenchError(f"no language known for SWORD module {module!r}; add it to l2s_bench.data.bible.LANGS")
    ids, lang = book_ids(entries), LANGS[module]
    out: dict[str, Verse] = {}
    for key, raw in entries.items():
        match = re.fullmatch(r"(.+) (\d+):(\d+)", key)
        if not match or match.group(3) == "0":
            continue
        book, chapter, verse = match.groups()
        text = clean(raw, lang, stats)
        if module in PRINT_HABITS and 'type="book"' in raw:
            text = _SUBSCRIPTION.sub(r"\1", text)
        if not text:
            stats["empty_verses_dropped"] += 1
            continue
        osis = ids.get(book, book.replace(" ", ""))
        strongs = frozenset(f"{s[0]}{int(s[1:])}" for s in re.findall(r"strong:([HG]\d+)", raw))
        out[f"{osis}.{chapter}.{verse}"] = Verse(osis, key, text, strongs)
    if module in PRINT_HABITS:
        usual = Counter(re.findall(r"(?<=[a-záéíóúñü,;] )\w+", " ".join(v.text for v in out.values())))
        for ref in [ref for ref in out if ref.endswith(".1")]:
            out[ref] = out[ref]._replace(text=_DROP_CAP.sub(lambda m: _recase(m, usual), out[ref].text, count=1))
    return out


def misnumbered(module: dict[str, Verse], pivot: dict[str, Verse], window: int = 3) -> set[str]:
    """Refs whose Strong's numbers say they hold another pivot verse (Hebrew-style numbering, merged verses)."""
    bad = set()
    for ref, verse in module.items():
        stem, n = ref.rsplit(".", 1)
        near = [pivot.get(f"{stem}.{int(n) + d}", _NO_VERSE).strongs for d in range(-window, window + 1)]
        sims = [len(verse.strongs & other) / (len(verse.strongs | other) or 1) for other in near]
        if sims[window] < 0.2 or max(sims) > sims[window] + 0.1:
            bad.add(ref)
    return bad


def _check_name(name: str) -> tuple[str, str]:
    if name not in PAIRS:
        hint = did_you_mean(name, PAIRS) or f"; known: {', '.join(PAIRS)}"
        raise BenchError(f"unknown Bible dataset '{name}'{hint}")
    return PAIRS[name]


def build(name: str) -> tuple[dict[str, list[dict]], dict]:
    """Rows per split, in the source module's canonical order, plus the manifest's metadata."""
    modules = _check_name(name)
    stats = {"source": Counter(), "target": Counter()}
    source, target = (verses(parse_imp(export_module(m)), m, stats[r]) for m, r in zip(modules, stats))
    suspect: set[str] = set()
    for side, module in zip((source, target), modules):
        if module in RENUMBERED:
            pivot = source if modules[0] == PIVOT else verses(parse_imp(export_module(PIVOT)), PIVOT, Counter())
            suspect |= misnumbered(side, pivot)
    common = [ref for ref in source if ref in target and ref not in suspect]
    logs = {ref: math.log((len(source[ref].text) + 20) / (len(target[ref].text) + 20)) for ref in common}
    median = statistics.median(logs.values())
    kept = [ref for ref in common if abs(logs[ref] - median) <= math.log(MAX_LENGTH_RATIO)]
    rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for ref in kept:
        src = source[ref]
        row = {"id": f"{name}/{ref}", "book": src.book, "ref": src.ref, "source": src.text, "target": target[ref].text}
        rows[SPLIT_OF.get(src.book, "train")].append(row)
    meta = {role: {"module": m, "package": PACKAGES[m], **{k.lower(): (module_conf(m) or {}).get(k) for k in CONF_KEYS}}
            for role, m in zip(stats, modules)}
    pairing = {"pairs": len(kept), "source_only": len(source.keys() - target.keys()),
               "target_only": len(target.keys() - source.keys()), "dropped_length_ratio": len(common) - len(kept),
               "dropped_misnumbered": len(suspect & source.keys() & target.keys())}
    cleaning = {role: dict(sorted(s.items())) for role, s in stats.items()}
    return rows, {"name": name, **meta, "split_books": {"test": TEST_BOOKS, "valid": VALID_BOOKS},
                  "cleaning": cleaning, "pairing": pairing}


if __name__ != "__main__":  # under `python -m` this file runs again, after l2s_bench.data registered its first copy
    for _name in PAIRS:
        DATASETS.register(_name)(build)


FIXTURE_SIZES = {"train": 400, "valid": 40, "test": 80}
FIXTURE_REFS = {  # real verses that exercise each markup case the cleaner handles
    "engKJV2006eb": "Genesis 1:0|Genesis 1:4|Exodus 6:3|II Kings 12:4|Psalms 3:1|Psalms 119:9|John 13:20|Titus 3:15",
    "engWEB2015eb": "Genesis 1:0|Genesis 1:1|Psalms 3:1|II Kings 12:4|Song of Solomon 1:2|II Chronicles 23:3|John 5:11",
    "spaRV1909eb": "Genesis 1:0|Genesis 1:1|Exodus 7:1|Ruth 1:1|Psalms 3:1|Psalms 35:5|Psalms 106:1|Mark 6:16"
                   "|John 10:10|Titus 3:15",
}


def make_fixture(root: Path = Path("tests/fixtures"), name: str = "kjv-web", max_words: int = 20) -> None:
    """Small real slices for offline tests: short verses (a tiny model must learn them), sampled by id hash."""
    rows, manifest = build(name)
    picked = {}
    for split, n in FIXTURE_SIZES.items():
        short = [r for r in rows[split] if len(r["source"].split()) <= max_words]
        chosen = {r["id"] for r in sorted(short, key=lambda r: hashlib.sha256(r["id"].encode()).digest())[:n]}
        picked[split] = [r for r in short if r["id"] in chosen]
    manifest["fixture_of"] = {split: len(rows[split]) for split in SPLITS}
    write_splits(root / name, picked, manifest)
    (root / "bible").mkdir(parents=True, exist_ok=True)
    for module, refs in FIXTURE_REFS.items():
        entries = parse_imp(export_module(module))
        snippet = "".join(f"$$${ref}\n{entries[ref]}\n" for ref in refs.split("|"))
        write_atomic(root / "bible" / f"{module}.imp", snippet.encode("utf-8"))


if __name__ == "__main__":  # `l2s-bench data prepare NAME` (bench/l2s_bench/cli.py) is the way to prepare data
    if sys.argv[1:] != ["fixture"]:
        sys.exit("usage: python -m l2s_bench.data.bible fixture")
    make_fixture()
