"""Registry: decorator registration, helpful unknown-name errors, and entry-point plugins."""

import importlib.metadata
import sys
from pathlib import Path

import pytest

from l2s_bench.errors import BenchError
from l2s_bench.registry import Registry

GROUP = "l2s_bench.models"


@pytest.fixture
def entry_points(monkeypatch):
    """Make `importlib.metadata.entry_points` report the given entry points for GROUP only."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))  # so `tests.` imports

    def install(*specs: tuple[str, str]):
        eps = [importlib.metadata.EntryPoint(name=n, value=v, group=GROUP) for n, v in specs]
        calls = []

        def fake(*, group):
            calls.append(group)
            return [ep for ep in eps if ep.group == group]

        monkeypatch.setattr(importlib.metadata, "entry_points", fake)
        return calls

    return install


def test_register_and_get():
    reg: Registry[type] = Registry("model adapter", GROUP)

    @reg.register("hf-causal")
    class HF:
        pass

    assert reg.get("hf-causal") is HF
    assert "hf-causal" in reg and "nope" not in reg


def test_registering_same_object_twice_is_fine_but_different_object_is_not():
    reg: Registry[object] = Registry("model adapter", GROUP)
    obj = object()
    reg.register("a")(obj)
    reg.register("a")(obj)
    with pytest.raises(ValueError, match="'a' is already registered"):
        reg.register("a")(object())


def test_unknown_name_suggests_close_match_and_lists_known(entry_points):
    entry_points()
    reg: Registry[object] = Registry("model adapter", GROUP)
    for name in ("hf-causal", "l2s", "vllm"):
        reg.register(name)(object())
    with pytest.raises(BenchError) as info:
        reg.get("hf-casual")
    assert str(info.value) == (
        "unknown model adapter 'hf-casual'; did you mean 'hf-causal'? (known: hf-causal, l2s, vllm)"
    )


def test_entry_point_discovered_and_loaded_lazily(entry_points):
    calls = entry_points(("ext", "tests.plugin_example:ExtAdapter"))
    sys.modules.pop("tests.plugin_example", None)
    reg: Registry[type] = Registry("model adapter", GROUP)
    reg.register("builtin")(object)

    assert reg.get("builtin") is object
    assert calls == []  # registered names never touch installed metadata
    assert reg.names() == ["builtin", "ext"]
    assert "ext" in reg
    assert "tests.plugin_example" not in sys.modules  # listed, not imported

    adapter = reg.get("ext")
    from tests.plugin_example import ExtAdapter

    assert adapter is ExtAdapter
    assert reg.get("ext") is ExtAdapter
    assert calls == [GROUP]  # the group was scanned once


def test_entry_point_names_take_part_in_did_you_mean(entry_points):
    entry_points(("ext-adapter", "tests.plugin_example:ExtAdapter"))
    reg: Registry[type] = Registry("model adapter", GROUP)
    with pytest.raises(BenchError, match=r"did you mean 'ext-adapter'\? \(known: ext-adapter\)"):
        reg.get("ext-adaptr")


def test_broken_entry_point_names_it_and_its_error(entry_points):
    entry_points(("broken", "tests.no_such_plugin:Adapter"))
    reg: Registry[type] = Registry("model adapter", GROUP)
    with pytest.raises(BenchError) as info:
        reg.get("broken")
    message = str(info.value)
    assert "'broken'" in message
    assert "tests.no_such_plugin:Adapter" in message
    assert "ModuleNotFoundError" in message and "tests.no_such_plugin" in message


class Base:
    pass


def test_base_class_is_checked_at_registration():
    reg: Registry[type[Base]] = Registry("model adapter", GROUP, base_cls=Base)

    @reg.register("good")
    class Good(Base):
        pass

    assert reg.get("good") is Good
    for wrong in (object, Base(), type("NotABase", (), {})):
        with pytest.raises(BenchError, match=r"model adapter 'bad': .* is not a subclass of .*\.Base$"):
            reg.register("bad")(wrong)
    assert "bad" not in reg.names()


def test_entry_point_outside_the_base_class_fails_when_loaded(entry_points):
    from l2s_bench.models import ModelAdapter

    entry_points(("ext", "tests.plugin_example:ExtAdapter"))  # a plain class, not a ModelAdapter
    reg: Registry[type[ModelAdapter]] = Registry("model adapter", GROUP, base_cls=ModelAdapter)
    with pytest.raises(BenchError) as info:
        reg.get("ext")
    message = str(info.value)
    assert "'ext'" in message and "tests.plugin_example:ExtAdapter" in message
    assert "is not a subclass of l2s_bench.models.base.ModelAdapter" in message


def test_model_and_metric_registries_check_their_base_class():
    from l2s_bench.metrics import METRICS, Metric
    from l2s_bench.models import MODELS, ModelAdapter

    assert MODELS.base_cls is ModelAdapter and METRICS.base_cls is Metric
    with pytest.raises(BenchError, match="is not a subclass of l2s_bench.models.base.ModelAdapter"):
        MODELS.register("not-an-adapter")(type("NotAnAdapter", (), {}))
    with pytest.raises(BenchError, match="is not a subclass of l2s_bench.metrics.base.Metric"):
        METRICS.register("not-a-metric")(type("NotAMetric", (), {}))
    assert "not-an-adapter" not in MODELS.names() and "not-a-metric" not in METRICS.names()
