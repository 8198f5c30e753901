"""`l2s_bench.files`: a crash or an error while replacing a file or a folder leaves the old copy or the new
one, never half of one and never none."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from l2s_bench.files import recover_folder, replacing_folder, write_atomic, write_json


def test_write_atomic_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = write_atomic(tmp_path / "sub" / "r.json", "old")
    write_atomic(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


@pytest.mark.parametrize("fails", ["fsync", "replace"])
def test_a_failed_write_keeps_the_old_file_and_removes_its_temp_file(tmp_path, monkeypatch, fails):
    path = write_atomic(tmp_path / "r.json", "old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, fails, boom)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_unserializable_data_keeps_the_old_file(tmp_path):
    path = write_json({"a": 1}, tmp_path / "r.json")
    with pytest.raises(TypeError):
        write_json({"a": object()}, path)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def _fill(folder: Path, text: str) -> None:
    (folder / "sub").mkdir()
    (folder / "a.txt").write_text(text)
    (folder / "sub" / "b.txt").write_text(text * 2)


def _read(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_folder_is_replaced_whole_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "ckpt"
    for text in ("old", "new"):
        with replacing_folder(target) as partial:
            _fill(partial, text)
    assert _read(target) == {"a.txt": "new", "sub/b.txt": "newnew"}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_an_error_while_filling_keeps_the_old_folder(tmp_path):
    target = tmp_path / "ckpt"
    with replacing_folder(target) as partial:
        _fill(partial, "old")
    with pytest.raises(RuntimeError):
        with replacing_folder(target) as partial:
            (partial / "a.txt").write_text("half")
            raise RuntimeError("killed while writing")
    assert _read(target) == {"a.txt": "old", "sub/b.txt": "oldold"} and [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_a_crash_between_the_renames_is_recovered_to_the_new_copy(tmp_path, monkeypatch):
    """Dying after the old copy moved aside and before the new one is in place (SIGKILL between two
    renames): `path` is gone; `recover_folder` puts the complete new copy there and drops the old."""
    target = tmp_path / "ckpt"
    with replacing_folder(target) as partial:
        _fill(partial, "old")
    real = Path.rename

    def dying(self, to):
        if self.name == "ckpt.partial":
            raise KeyboardInterrupt
        return real(self, to)

    monkeypatch.setattr(Path, "rename", dying)
    with pytest.raises(KeyboardInterrupt):
        with replacing_folder(target) as partial:
            _fill(partial, "new")
    monkeypatch.undo()
    assert not target.exists() and (tmp_path / "ckpt.old").exists()
    assert _read(recover_folder(target)) == {"a.txt": "new", "sub/b.txt": "newnew"}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_an_incomplete_new_copy_is_not_trusted(tmp_path):
    """A `.partial` without its completion mark (its files not all written and synced) loses to the old copy."""
    target, old, partial = tmp_path / "ckpt", tmp_path / "ckpt.old", tmp_path / "ckpt.partial"
    for folder, text in ((old, "old"), (partial, "half")):
        folder.mkdir()
        _fill(folder, text)
    assert _read(recover_folder(target)) == {"a.txt": "old", "sub/b.txt": "oldold"}
