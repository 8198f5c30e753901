import pytest
import torch

from l2s_bench import machine


@pytest.mark.parametrize("flags, expected", [({"avx2", "avx512f", "avx512_bf16"}, "bfloat16"),
                                             ({"avx2", "amx_bf16"}, "bfloat16"),
                                             ({"avx", "avx2", "fma"}, "float32")])
def test_auto_dtype_follows_native_bf16(monkeypatch, flags, expected):
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset(flags))
    assert machine.resolve_dtype("auto", "cpu") == expected


def test_explicit_dtype_is_kept_but_emulated_bf16_is_warned_about(monkeypatch, caplog):
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"avx2"}))
    assert machine.resolve_dtype("float32") == "float32"
    assert machine.resolve_dtype("bfloat16") == "bfloat16"
    assert "emulated" in caplog.text


def test_set_threads_is_explicit(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert machine.set_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setattr(machine, "available_cores", lambda: 2)
        assert machine.set_threads(None) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_capability_names_what_decides_the_auto_dtypes(monkeypatch):
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    cap = machine.capability("cpu")
    assert cap["bf16_native"] is True and cap["bf16_flags"] == ["avx512_bf16"]
    assert cap["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert cap["threads"] == torch.get_num_threads() and cap["cores"] >= 1
