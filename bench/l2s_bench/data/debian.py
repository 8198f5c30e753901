"""Debian package descriptions from apt's translation index (DDTP): real, edited, licence-free text.

  debian-sum   long description -> one-line synopsis (summarization)
  ddtp-en-de   English description (synopsis + long text) -> its German DDTP translation, joined on Description-md5

apt fetches the Translation-* files once into the cache (the system's lists stay as they are; Docker images disable
them with `Acquire::Languages "none"`); rebuilds reuse them. Delete `cache_dir("apt-lists")` to refresh.

Splits hold out whole package families (0ad, 0ad-data; libfoo3, libfoo-dev, python3-foo: the source package without
packaging affixes), whose packages share most of their text; a family has the same split in both data sets. Valid
and test rows that still share a paragraph with train are dropped (gmerlin/gmerlin-encoders), unless it is
boilerplate found in many families ("This package contains the development files.").
Regenerate the committed test fixtures with `python -m l2s_bench.data.debian fixture`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from l2s_bench.data import DATASETS, SPLITS, write_splits
from l2s_bench.errors import BenchError
from l2s_bench.paths import cache_dir

NAMES = ("debian-sum", "ddtp-en-de")
TEST_PERMILLE, VALID_PERMILLE = 20, 20  # share of families, by a stable hash
MIN_WORDS = 40  # debian-sum: shorter long descriptions hardly need summarizing
SHARED_PARAGRAPH_WORDS, BOILERPLATE_FAMILIES = 8, 5  # see _eval_rows_without_leaks
APT_CONF = '#clear Acquire::Languages;\nAcquire::Languages {"en";"de";};\n#clear APT::Update::Post-Invoke-Success;\n'
APT_HELPER = "/usr/lib/apt/apt-helper"  # `cat-file` decompresses whatever apt stored (lz4, gz, xz)
_BULLET = re.compile(r"[*+\-o•]\s|\d+[.)]\s")
# Packaging affixes, stripped repeatedly from source package names to find the family.
_PREFIX = re.compile(r"^(?:lib|python3?-|rust-|golang-(?:github-|gitlab-|gopkg-|google-|golang-x-)?|node-|ruby-"
                     r"|r-(?:cran|bioc|other)-|haskell-|ghc-|php-|x?fonts-|ocaml-|lua-|elpa-|gir1\.2-|cl-)")
_SUFFIX = re.compile(r"(?:-(?:dev|docs?|dbg|common|data|utils?|tools|bin|perl|java|el|clojure|go|python3?|cli"
                     r"|examples|tests?|runtime|l10n|i18n|prof|defaults|opensource-src|src)|[-.]?\d[\d.]*|t64)$")


class Description(NamedTuple):
    package: str
    md5: str  # Description-md5: the key that ties a translation to the English text it translates
    synopsis: str
    long: str  # paragraphs joined by "\n"; bullets and verbatim lines on lines of their own


def lists_dir() -> Path:
    """apt's lists with the English and German Translation files, fetched into the cache on first use."""
    lists = cache_dir("apt-lists")
    if all(any(lists.glob(f"*_i18n_Translation-{lang}*")) for lang in ("en", "de")):
        return lists
    if not shutil.which("apt-get") or not Path(APT_HELPER).exists():
        raise BenchError("Debian package descriptions need Debian's apt (apt-get and apt-helper); none found")
    (lists / "partial").mkdir(exist_ok=True)
    conf = cache_dir("apt-cache") / "apt.conf"  # not in `lists`: apt-get update deletes files it does not know there
    conf.write_text(APT_CONF)
    done = subprocess.run(["apt-get", "-c", str(conf), "-o", f"Dir::State::Lists={lists}",
                           "-o", f"Dir::Cache={cache_dir('apt-cache')}", "update"], capture_output=True, text=True)
    if done.returncode != 0 or not any(lists.glob("*_i18n_Translation-de*")):
        raise BenchError(f"apt-get update (Translation files into {lists}) failed: {done.stderr.strip()[-500:]}")
    return lists


def cat_file(path: Path) -> str:
    done = subprocess.run([APT_HELPER, "cat-file", str(path)], capture_output=True)
    if done.returncode != 0:
        raise BenchError(f"apt-helper cat-file {path} failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    return done.stdout.decode("utf-8", errors="replace")


def long_text(lines: list[str]) -> str:
    """Policy 5.6.13 markup to text: " ." breaks paragraphs, one-space lines are wrapped text, lines with more
    indentation are verbatim (lists, code) except a bullet's deeper-indented continuation, which joins it."""
    out: list[str] = []  # finished lines
    wrapped, bullet_indent = False, -1  # is out[-1] wrapped text; indentation of the text of the bullet in out[-1]
    for line in lines:
        body = " ".join(line.split())
        indent = len(line) - len(line.lstrip(" "))
        if body == ".":
            out.append("")
            wrapped, bullet_indent = False, -1
        elif indent <= 1:
            if wrapped and out[-1]:
                out[-1] += " " + body
            else:
                out.append(body)
            wrapped, bullet_indent = True, -1
        elif bullet_indent >= 0 and indent >= bullet_indent and not _BULLET.match(body):
            out[-1] += " " + body
        else:
            out.append(body)
            bullet = _BULLET.match(body)
            wrapped, bullet_indent = False, indent + bullet.end() if bullet else -1
    return re.sub(r"\n{2,}", "\n", "\n".join(out)).strip()  # one "\n" between paragraphs


def parse_translation(text: str, lang: str) -> list[Description]:
    """Stanzas of a Translation-<lang> file, in file order."""
    found = []
    for stanza in text.split("\n\n"):
        fields = re.match(rf"Package: (\S+)\nDescription-md5: ([0-9a-f]{{32}})\nDescription-{lang}: ?(.*)", stanza)
        if fields:
            rest = [line for line in stanza[fields.end():].split("\n") if line.startswith(" ")]
            found.append(Description(fields[1], fields[2], " ".join(fields[3].split()), long_text(rest)))
    return found


def parse_sources(text: str) -> dict[str, str]:
    """{binary package: source package} from a Packages file; a binary without `Source:` is its own source."""
    out = {}
    for stanza in text.split("\n\n"):
        if package := re.search(r"^Package: (\S+)", stanza, re.M):
            source = re.search(r"^Source: (\S+)", stanza, re.M)
            out[package[1]] = source[1] if source else package[1]
    return out


def family(name: str) -> str:
    """The name without packaging affixes: `libfoo-1.2-dev`, `python3-foo` and `foo-doc` are all `foo`."""
    while (shorter := _PREFIX.sub("", _SUFFIX.sub("", name))) not in (name, ""):
        name = shorter
    return name


def split_of(fam: str) -> str:
    """A stable split for a family: the same on every machine and run, and in both data sets."""
    bucket = int.from_bytes(hashlib.sha256(fam.encode()).digest()[:8], "big") % 1000
    return "test" if bucket < TEST_PERMILLE else "valid" if bucket < TEST_PERMILLE + VALID_PERMILLE else "train"


def _list_files(lists: Path, kind: str) -> list[Path]:
    """The stable release's files first (updates and security after), so its text wins for a package in both."""
    return sorted(lists.glob(f"*_{kind}*"), key=lambda p: ("-updates_" in p.name or "-security_" in p.name, p.name))


def read_descriptions(lists: Path, lang: str, stats: Counter) -> dict[str, Description]:
    """{package: Description} over every Translation-<lang> file; the first file holding a package wins."""
    out: dict[str, Description] = {}
    for path in _list_files(lists, f"i18n_Translation-{lang}"):
        for d in parse_translation(cat_file(path), lang):
            stats[f"{lang}_records"] += 1
            out.setdefault(d.package, d)
    stats[f"{lang}_packages"] = len(out)
    return out


def source_info(lists: Path) -> dict:
    """What the data came from: each release (InRelease header), each Translation file's sha256, apt's version."""
    releases = []
    for path in sorted(lists.glob("*_InRelease")):
        head = path.read_text(encoding="utf-8", errors="replace").split("\n\n", 2)[1]
        fields = dict(re.findall(r"^(Origin|Suite|Codename|Version|Date): (.*)$", head, re.M))
        releases.append({"file": path.name, **fields})
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _list_files(lists, "i18n_Translation-")}
    apt = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "apt"], capture_output=True, text=True).stdout or None
    return {"releases": releases, "translation_files": files, "apt_version": apt}


def _eval_rows_without_leaks(rows: dict[str, list[dict]], stats: Counter) -> None:
    """Drop valid/test rows sharing a paragraph of SHARED_PARAGRAPH_WORDS+ words with train, unless that paragraph
    is boilerplate ("This package contains the development files."), found in BOILERPLATE_FAMILIES+ train families."""
    def paragraphs(text: str) -> set[str]:
        return {p for p in text.split("\n") if len(p.split()) >= SHARED_PARAGRAPH_WORDS}

    families: dict[str, set[str]] = {}
    for r in rows["train"]:
        for p in paragraphs(r["source"]):
            families.setdefault(p, set()).add(r["family"])
    rare = {p for p, owners in families.items() if len(owners) < BOILERPLATE_FAMILIES}
    for split in ("valid", "test"):
        kept = [r for r in rows[split] if not paragraphs(r["source"]) & rare]
        stats[f"{split}_dropped_shared_paragraph"] = len(rows[split]) - len(kept)
        rows[split] = kept


def build(name: str) -> tuple[dict[str, list[dict]], dict]:
    """Rows per split, by package name, plus the manifest's metadata."""
    lists, stats = lists_dir(), Counter()
    sources = {binary: source for path in reversed(_list_files(lists, "binary-"))  # the stable release, read last, wins
               for binary, source in parse_sources(cat_file(path)).items()}
    english = read_descriptions(lists, "en", stats)
    pairs = (summary_pairs(english, stats) if name == "debian-sum"
             else translation_pairs(english, read_descriptions(lists, "de", stats), stats))
    rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
    seen: set[str] = set()
    for d, source, target in sorted(pairs):
        if source in seen:  # the same text under several packages (metapackages, transitional names)
            stats["dropped_duplicate_source"] += 1
            continue
        seen.add(source)
        fam = family(sources.get(d.package, d.package))
        rows[split_of(fam)].append({"id": f"{name}/{d.package}", "package": d.package, "family": fam,
                                    "source": source, "target": target})
    _eval_rows_without_leaks(rows, stats)
    stats.update({f"families_{s}": len({r["family"] for r in rows[s]}) for s in SPLITS})
    kept = [r for split in SPLITS for r in rows[split]]
    for side in ("source", "target"):
        stats[f"mean_{side}_words"] = round(sum(len(r[side].split()) for r in kept) / max(len(kept), 1), 1)
    split = {"by": "source package family, sha256 bucket", "test_permille": TEST_PERMILLE,
             "valid_permille": VALID_PERMILLE, "shared_paragraph_words": SHARED_PARAGRAPH_WORDS,
             "boilerplate_families": BOILERPLATE_FAMILIES}
    return rows, {"name": name, "sources": source_info(lists), "min_source_words": MIN_WORDS * (name == "debian-sum"),
                  "split": split, "filters": dict(sorted(stats.items()))}


def summary_pairs(english: dict[str, Description], stats: Counter) -> list[tuple[Description, str, str]]:
    """(description, long text, synopsis) for long texts of MIN_WORDS+ words."""
    pairs = []
    for d in english.values():
        if not d.synopsis or len(d.long.split()) < MIN_WORDS:
            stats["dropped_short_long_text"] += 1
            continue
        # Kept, but counted: here the target can be copied from the source's opening words.
        stats["synopsis_opens_long_text"] += d.long.lower().startswith(d.synopsis.lower().rstrip("."))
        pairs.append((d, d.long, d.synopsis))
    return pairs


def translation_pairs(english: dict[str, Description], german: dict[str, Description],
                      stats: Counter) -> list[tuple[Description, str, str]]:
    """(English description, "synopsis\\nlong text" in English, the same in German), joined on Description-md5."""
    by_md5 = {d.md5: d for d in german.values()}
    pairs = []
    for d in english.values():
        if (de := by_md5.get(d.md5)) is None:
            stats["english_without_german"] += 1
            continue
        source, target = "\n".join(filter(None, (d.synopsis, d.long))), "\n".join(filter(None, (de.synopsis, de.long)))
        if source == target:
            stats["dropped_untranslated"] += 1
            continue
        stats["paragraph_count_differs"] += source.count("\n") != target.count("\n")
        pairs.append((d, source, target))
    return pairs


if __name__ != "__main__":  # under `python -m` this file runs again, after l2s_bench.data registered its first copy
    for _name in NAMES:
        DATASETS.register(_name)(build)


FIXTURE_SIZES = {"train": 200, "valid": 20, "test": 40}
# Raw stanzas for parser tests: paragraphs, bullets, bullet continuations, verbatim lists and code, short texts.
FIXTURE_PACKAGES = ("0ad", "0ad-data", "0xffff", "389-ds-base", "alsa-tools", "apcalc", "python3-aioxmlrpc")


def shortest(rows: list[dict], n: int, field: str = "source") -> list[dict]:
    """The n rows with the fewest words in `field` (ties by id hash), in their order: fixtures must stay small."""
    def key(r: dict) -> tuple[int, bytes]:
        return len(r[field].split()), hashlib.sha256(r["id"].encode()).digest()

    chosen = {r["id"] for r in sorted(rows, key=key)[:n]}
    return [r for r in rows if r["id"] in chosen]


def make_fixture(root: Path = Path("tests/fixtures")) -> None:
    """Small real slices for offline tests, the shortest rows of each split, plus raw Translation/Packages stanzas."""
    for name in NAMES:
        rows, manifest = build(name)
        picked = {split: shortest(rows[split], n) for split, n in FIXTURE_SIZES.items()}
        manifest["fixture_of"] = {split: len(rows[split]) for split in SPLITS}
        write_splits(root / name, picked, manifest)
    lists, raw = lists_dir(), root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    wanted = re.compile(rf"^Package: ({'|'.join(map(re.escape, FIXTURE_PACKAGES))})\n")
    for kind in ("i18n_Translation-en", "i18n_Translation-de", "binary-amd64_Packages"):
        stanzas = [s for s in cat_file(_list_files(lists, kind)[0]).split("\n\n") if wanted.match(s)]
        (raw / kind.split("_")[-1]).write_text("\n\n".join(stanzas) + "\n", encoding="utf-8")


if __name__ == "__main__":  # `l2s-bench data prepare NAME` (bench/l2s_bench/cli.py) is the way to prepare data
    if sys.argv[1:] != ["fixture"]:
        sys.exit("usage: python -m l2s_bench.data.debian fixture")
    make_fixture()
