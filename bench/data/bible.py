"""Verse-aligned Bible pairs built offline from Debian's SWORD modules.

Why the Bible: three public-domain translations ship as Debian packages, already aligned verse by
verse, so two tasks need no network and no licence review:
  kjv-web      King James 1611/1769 (engKJV2006eb) -> World English Bible (engWEB2015eb): archaic to modern English.
  bible-en-es  World English Bible -> Reina-Valera 1909 (spaRV1909eb): English to Spanish.

Splits hold out whole books, because verses of one book share names, formulas and refrains; a random
verse split would leak them. Short books from both testaments and several genres were chosen:
  test  = Ruth, Jonah, Zephaniah, Titus, Philemon, 2 John, Jude    (295 verses in KJV numbering)
  valid = Obadiah, Nahum, Habakkuk, Haggai, 2 Thessalonians        (209 verses)
Joel is avoided because Acts 2 (train) quotes it at length; 3 John because the WEB's NRSVA versification
numbers its last verse differently from the KJV. Looser echoes remain (Jude/2 Peter, Obadiah/Jeremiah 49).

Regenerate the committed test fixtures with `python -m bench.data.bible fixture`.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.errors import BenchError
from bench.paths import cache_dir

PAIRS: dict[str, tuple[str, str]] = {
    "kjv-web": ("engKJV2006eb", "engWEB2015eb"),
    "bible-en-es": ("engWEB2015eb", "spaRV1909eb"),
}
PACKAGES = {"engKJV2006eb": "sword-text-kjv", "engWEB2015eb": "sword-text-web", "spaRV1909eb": "sword-text-sparv"}
TEST_BOOKS = ("Ruth", "Jonah", "Zeph", "Titus", "Phlm", "2John", "Jude")
VALID_BOOKS = ("Obad", "Nah", "Hab", "Hag", "2Thess")
SPLITS = ("train", "valid", "test")
# RV1909 typesets the first word of each chapter in capitals ("EN el principio"), a print habit, not text.
DROP_CAP_MODULES = {"spaRV1909eb"}

# Elements whose content is apparatus, not verse text: footnotes, cross-references, editorial headings,
# speaker labels (Song of Songs), GBF footnotes and titles. Canonical titles (psalm superscriptions) stay:
# RV1909 has them as plain text inside verse 1.
_DROP = re.compile(
    r"<(note|speaker)\b[^>]*(?<!/)>.*?</\1>|<title\b(?![^>]*canonical=\"true\")[^>]*(?<!/)>.*?</title>"
    r"|<RF>.*?<Rf>|<TS>.*?<Ts>",
    re.S,
)
# Front/back matter sits between milestone divs; the WEB appends its whole glossary to Revelation 22:21.
_SPAN = re.compile(
    r"<div\b[^>]*\bsID=\"([^\"]+)\"[^>]*\btype=\"(?:introduction|glossary|front|back|preface|colophon)\"[^>]*/>"
    r".*?(?:<div\b[^>]*\beID=\"\1\"[^>]*/>|\Z)",
    re.S,
)
_TAG = re.compile(r"<[^<>]*>")
_TAG_RUN = re.compile(r"(?:<[^<>]*>)+")
_TAG_NAME = re.compile(r"</?\s*([A-Za-z]+)")
_STRONGS = re.compile(r"strong:|type=\"Strongs\"|^<W?[HG]\d", re.I)
# Inline wrappers around words. A lone open or close tag of these sits inside a word (KJV "tha</w>t");
# any other tag, or a close followed by an open ("siempre</w><transChange>es"), separates words.
_INLINE = {"w", "transChange", "divineName", "seg", "hi", "foreign", "name"}
# RV1909 marks some enclitic pronouns as additions: "oyéndo</w><transChange>lo" is one word, "oyéndolo".
_ENCLITIC = re.compile(r"(\w+)</w><transChange\b[^>]*>(l[aeo]s?|[mts]e|nos|os)</transChange>")
_VERBISH = re.compile(r"(?:[aei]r|ndo|[aei]d|[áéíóú]\w*)$", re.I)
_NOT_VERBS = {"jehová", "josué", "cuánto", "á", "é", "ó"}
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?)\]’”»])")
_SPACE_AFTER = re.compile(r"([(\[“¿¡«])\s+")
_DROP_CAP = re.compile(r"\b([A-ZÁÉÍÓÚÑÜ]{2,}(?: [A-ZÁÉÍÓÚÑÜ]{2,})*)\b")


def parse_imp(text: str) -> dict[str, str]:
    """Split `mod2imp` output into {key: raw markup}; keys are SWORD refs such as "II John 1:3"."""
    entries: dict[str, str] = {}
    key, lines = None, []
    for line in text.splitlines():
        if line.startswith("$$$"):
            if key is not None:
                entries[key] = "\n".join(lines)
            key, lines = line[3:].strip(), []
        else:
            lines.append(line)
    if key is not None:
        entries[key] = "\n".join(lines)
    return entries


def _run_tag_run(match: re.Match[str]) -> str:
    tags = _TAG.findall(match.group(0))
    if any((m := _TAG_NAME.match(t)) is None or m[1] not in _INLINE for t in tags):
        return " "
    closes_then_opens = any(a.startswith("</") and not b.startswith("</") for a, b in zip(tags, tags[1:]))
    return " " if closes_then_opens else ""


def _join_enclitic(match: re.Match[str], stats: Counter) -> str:
    verb, clitic = match.groups()
    if verb.lower() in _NOT_VERBS or not _VERBISH.search(verb):
        return match.group(0)
    stats["enclitics_joined"] += 1
    return verb + clitic


def clean(raw: str, lang: str = "en", stats: Counter | None = None) -> str:
    """Markup to plain text that keeps word boundaries a naive tag strip would lose ("God</w><note/>created")."""
    stats = Counter() if stats is None else stats

    def removed(m: re.Match[str]) -> str:
        stats[f"{_TAG_NAME.match(m.group(0))[1].lower()}_elements_removed"] += 1
        return " "

    text = _DROP.sub(removed, _SPAN.sub(removed, raw))
    tags = _TAG.findall(text)
    stats["tags_removed"] += len(tags)
    stats["strongs_tags_removed"] += sum(1 for t in tags if _STRONGS.search(t))
    if lang == "es":
        text = _ENCLITIC.sub(lambda m: _join_enclitic(m, stats), text)
    text = html.unescape(_TAG_RUN.sub(_run_tag_run, text)).replace("¶", " ")
    text = " ".join(text.split())
    return _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", text))


def _undo_drop_cap(text: str) -> str:
    """"EN el principio" -> "En el principio"; only called on the first verse of a chapter."""
    return _DROP_CAP.sub(lambda m: m.group(1).capitalize(), text, count=1)


def _mods_dirs() -> list[Path]:
    roots = [os.environ.get("SWORD_PATH", ""), str(Path.home() / ".sword"), "/usr/share/sword"]
    return [Path(r) / "mods.d" for r in roots if r and (Path(r) / "mods.d").is_dir()]


def module_conf(module: str) -> dict[str, str] | None:
    """The module's .conf (Version, Lang, ...), or None when SWORD does not have it installed."""
    for conf in sorted(p for d in _mods_dirs() for p in d.glob("*.conf")):
        lines = conf.read_text(encoding="utf-8", errors="replace").splitlines()
        header = next((line.strip() for line in lines if line.strip().startswith("[")), "")
        if header == f"[{module}]":
            return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return None


def _apt_install(packages: list[str]) -> None:
    """Install what is missing when we are root; otherwise say the one command that fixes it."""
    command = ["apt-get", "install", "-y", *packages]
    if os.geteuid() != 0:
        raise BenchError(f"the SWORD Bible modules are not installed; run: sudo apt-get install {' '.join(packages)}")
    if subprocess.run(command, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True)
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}")


def export_module(module: str) -> str:
    """Raw `mod2imp` output for a module, installing the Debian packages on first use."""
    missing = [] if shutil.which("mod2imp") else ["libsword-utils"]
    if module_conf(module) is None:
        missing.append(PACKAGES.get(module, module))
    if missing:
        _apt_install(missing)
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


def verses(entries: dict[str, str], module: str, stats: Counter) -> dict[str, tuple[str, str, str]]:
    """{OSIS ref: (OSIS book, SWORD ref, clean text)} for every non-empty verse (chapter/book intros skipped)."""
    ids, lang = book_ids(entries), (module_conf(module) or {}).get("Lang", "en")
    out: dict[str, tuple[str, str, str]] = {}
    for key, raw in entries.items():
        match = re.fullmatch(r"(.+) (\d+):(\d+)", key)
        if not match or match.group(3) == "0":
            continue
        book, chapter, verse = match.groups()
        text = clean(raw, lang, stats)
        if module in DROP_CAP_MODULES and verse == "1":
            text = _undo_drop_cap(text)
        if not text:
            stats["empty_verses_dropped"] += 1
            continue
        osis = ids.get(book, book.replace(" ", ""))
        out[f"{osis}.{chapter}.{verse}"] = (osis, key, text)
    return out


def split_of(book: str) -> str:
    """Which split an OSIS book belongs to; whole books, so no verse of a held-out book is ever trained on."""
    return "test" if book in TEST_BOOKS else "valid" if book in VALID_BOOKS else "train"


def _check_name(name: str) -> tuple[str, str]:
    if name not in PAIRS:
        close = difflib.get_close_matches(name, PAIRS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(PAIRS)}"
        raise BenchError(f"unknown Bible dataset '{name}'{hint}")
    return PAIRS[name]


def _write_atomic(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def _write_splits(out_dir: Path, rows: dict[str, list[dict]], manifest: dict) -> Path:
    """Write the splits, then the manifest last, so a manifest always describes complete files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest["splits"] = {}
    for split in SPLITS:
        data = _jsonl(rows[split])
        _write_atomic(out_dir / f"{split}.jsonl", data)
        manifest["splits"][split] = {"count": len(rows[split]), "sha256": hashlib.sha256(data).hexdigest()}
    _write_atomic(out_dir / "manifest.json", (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode())
    return out_dir


def build(name: str) -> tuple[dict[str, list[dict]], dict]:
    """Rows per split plus manifest metadata for one pair, in the source module's canonical order."""
    modules = _check_name(name)
    texts, stats, meta = [], {}, {}
    for role, module in zip(("source", "target"), modules):
        stats[role] = Counter()
        texts.append(verses(parse_imp(export_module(module)), module, stats[role]))
        conf = module_conf(module) or {}
        meta[role] = {"module": module, "package": PACKAGES[module], "version": conf.get("Version"),
                      "date": conf.get("SwordVersionDate"), "description": conf.get("Description"),
                      "versification": conf.get("Versification"), "lang": conf.get("Lang")}
    source, target = texts
    rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for ref, (book, human_ref, text) in source.items():
        if ref in target:
            rows[split_of(book)].append({"id": f"{name}/{ref}", "book": book, "ref": human_ref,
                                         "source": text, "target": target[ref][2]})
    pairing = {"pairs": sum(map(len, rows.values())), "source_only": len(source.keys() - target.keys()),
               "target_only": len(target.keys() - source.keys())}
    manifest = {"name": name, **meta, "split_books": {"test": TEST_BOOKS, "valid": VALID_BOOKS},
                "cleaning": {r: dict(sorted(s.items())) for r, s in stats.items()}, "pairing": pairing}
    return rows, manifest


def prepare(name: str, out_dir: Path | None = None) -> Path:
    """Export, clean and pair both modules, write train/valid/test.jsonl + manifest.json; returns the folder."""
    rows, manifest = build(name)
    return _write_splits(Path(out_dir) if out_dir else cache_dir("data", name), rows, manifest)


def load_split(name: str, split: str, data_dir: Path | None = None) -> list[dict]:
    """Rows of one prepared split; preparing is explicit because it may need apt."""
    _check_name(name)
    if split not in SPLITS:
        raise BenchError(f"unknown split '{split}'; expected one of {', '.join(SPLITS)}")
    path = Path(data_dir or cache_dir("data", name)) / f"{split}.jsonl"
    if not path.is_file():
        raise BenchError(f"{path} not found; run `l2s-bench data prepare {name}` first")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


FIXTURE_SIZES = {"train": 400, "valid": 40, "test": 80}
FIXTURE_REFS = {  # verses that exercise each markup case the cleaner handles
    "engKJV2006eb": ["Genesis 1:0", "Genesis 1:1", "Genesis 1:4", "Exodus 6:2", "Psalms 3:1", "Psalms 119:9",
                     "John 13:20", "II John 1:1"],
    "engWEB2015eb": ["Genesis 1:0", "Genesis 1:1", "Psalms 3:1", "Psalms 3:2", "II Kings 12:4",
                     "Song of Solomon 1:2", "II Chronicles 23:3", "II John 1:1"],
    "spaRV1909eb": ["Genesis 1:0", "Genesis 1:1", "Psalms 3:1", "Psalms 106:1", "Mark 6:16", "Luke 8:25",
                    "II John 1:1"],
}


def make_fixture(root: Path = Path("tests/fixtures"), name: str = "kjv-web", max_words: int = 25) -> None:
    """Small real slices for offline tests: short verses (a tiny model must learn them), sampled by id hash."""
    rows, manifest = build(name)
    picked = {}
    for split, n in FIXTURE_SIZES.items():
        short = [r for r in rows[split] if len(r["source"].split()) <= max_words]
        chosen = set(sorted((hashlib.sha256(r["id"].encode()).hexdigest(), r["id"]) for r in short)[:n])
        picked[split] = [r for r in short if (hashlib.sha256(r["id"].encode()).hexdigest(), r["id"]) in chosen]
    manifest["fixture_of"] = {split: len(rows[split]) for split in SPLITS}
    _write_splits(root / name, picked, manifest)
    (root / "bible").mkdir(parents=True, exist_ok=True)
    for module, refs in FIXTURE_REFS.items():
        entries = parse_imp(export_module(module))
        snippet = "".join(f"$$${ref}\n{entries[ref]}\n" for ref in refs)
        _write_atomic(root / "bible" / f"{module}.imp", snippet.encode("utf-8"))


def main(argv: list[str]) -> int:
    """`python -m bench.data.bible prepare NAME` or `python -m bench.data.bible fixture`."""
    try:
        if argv[:1] == ["fixture"]:
            make_fixture()
        elif argv[:1] == ["prepare"] and len(argv) == 2:
            print(prepare(argv[1]))
        else:
            raise BenchError("usage: python -m bench.data.bible {prepare NAME | fixture}")
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
