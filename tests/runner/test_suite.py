"""`l2s_bench.runner.suite`: the shipped suites load, `{task}` is filled per task, CLI overrides apply, and every
mistake in a suite file is a BenchError naming the key (with a did-you-mean where one helps)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from l2s_bench.errors import BenchError
from l2s_bench.runner.suite import Suite, load_suite, suite_files, suite_names

SYSTEMS = {
    "llm": {"role": "llm", "adapter": "hf-causal", "args": {"source": "smollm2-135m-instruct"}},
    "slm": {"role": "slm", "train": "configs/{task}/slm.yaml"},
    "l2s": {"role": "l2s", "train": "configs/{task}/l2s.yaml", "overrides": {"out": "runs/{task}/l2s"}},
    "assisted": {"role": "assisted", "target": "llm", "assistant": "slm"},
}


def write_suite(tmp_path: Path, **changes) -> Path:
    raw = {"suite": "mine", "tasks": ["kjv-web", "debian-sum"], "systems": dict(SYSTEMS)}
    raw.update(changes)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("name", suite_names())
def test_every_shipped_suite_loads(name):
    suite = load_suite(name)
    assert suite.suite == name and suite.tasks
    assert [s.role for s in suite.systems.values()].count("llm") == 1
    assert load_suite(suite_files()[name]).hash() == suite.hash()  # by path as by name


def test_smoke_and_default_suites():
    assert {"smoke", "default"} <= set(suite_names())
    smoke = load_suite("smoke")
    assert smoke.device == "cpu" and smoke.tasks == ["kjv-web", "instruct-mix"]
    assert {n: s.role for n, s in smoke.systems.items()} == {"llm": "llm", "llm-ft": "llm-ft", "slm": "slm",
                                                              "l2s": "l2s", "assisted": "assisted"}
    assert smoke.quality.limit == 16 and smoke.speed.backends == ["eager"]
    default = load_suite("default")
    assert default.tasks == ["kjv-web", "debian-sum", "instruct-mix"] and default.data_dir is None
    assert set(default.systems) == set(smoke.systems)
    assert default.quality.n_bootstrap == 1000  # not in the file: the dataclass default


def test_task_placeholder_is_filled_per_task():
    smoke = load_suite("smoke")
    systems = smoke.for_task("instruct-mix")
    assert systems["slm"].train == systems["l2s"].train == "configs/smoke/instruct-mix.yaml"
    assert systems["l2s"].overrides == {"out": "runs/smoke/instruct-mix/l2s"}
    assert systems["llm"].args == {"source": "smollm2-135m-instruct"}
    assert systems["assisted"].target == "llm" and systems["assisted"].assistant == "slm"
    assert smoke.task_data_dir("kjv-web") == "tests/fixtures/kjv-web"
    assert load_suite("default").task_data_dir("kjv-web") is None
    # the suite itself keeps its placeholders (each task gets its own copy)
    assert smoke.systems["slm"].train == "configs/smoke/{task}.yaml"


def test_placeholder_reaches_nested_overrides_and_lists(tmp_path):
    systems = dict(SYSTEMS, l2s={"role": "l2s", "train": "c/{task}.yaml",
                                 "overrides": {"out": "runs/{task}/l2s", "data": {"tags": ["{task}", 3]}}})
    suite = load_suite(write_suite(tmp_path, systems=systems))
    l2s = suite.for_task("debian-sum")["l2s"]
    assert l2s.overrides == {"out": "runs/debian-sum/l2s", "data": {"tags": ["debian-sum", 3]}}


def test_overrides_replace_keys_and_none_keeps_the_suites():
    base = load_suite("smoke")
    suite = load_suite("smoke", device=None, tasks=["kjv-web"], threads=1,
                       **{"quality.limit": 3, "speed.backends": ["eager", "compiled"], "speed.n": None})
    assert suite.tasks == ["kjv-web"] and suite.threads == 1 and suite.device == "cpu"
    assert suite.quality.limit == 3 and suite.quality.batch_size == 16  # the rest of the section stays
    assert suite.speed.backends == ["eager", "compiled"] and suite.speed.n == 2
    assert suite.hash() != base.hash()
    assert load_suite("smoke").quality.limit == 16, "overrides must not leak into the next load"


def test_override_of_a_section_the_file_lacks(tmp_path):
    suite = load_suite(write_suite(tmp_path), **{"quality.limit": 5})
    assert suite.quality.limit == 5 and suite.quality.batch_size == 16


def test_overrides_are_checked_too():
    with pytest.raises(BenchError, match="quality.limt"):
        load_suite("smoke", **{"quality.limt": 3})


def test_unknown_suite_name_suggests_one():
    with pytest.raises(BenchError, match=r"unknown suite 'smok'; did you mean 'smoke'\?"):
        load_suite("smok")
    with pytest.raises(BenchError, match="unknown suite 'zzzz'.*suites: .*smoke"):
        load_suite("zzzz")


def test_missing_suite_file_is_a_bench_error(tmp_path):
    with pytest.raises(BenchError, match="not found"):
        load_suite(tmp_path / "nope.yaml")


@pytest.mark.parametrize("changes,message", [
    ({"qualty": {"limit": 3}}, r"unknown key 'qualty'; did you mean 'quality'\?"),
    ({"quality": {"limt": 3}}, r"unknown key 'quality.limt'; did you mean 'limit'\?"),
    ({"speed": {"backend": ["eager"]}}, r"unknown key 'speed.backend'; did you mean 'backends'\?"),
    ({"systems": {**SYSTEMS, "llm": {"role": "llm", "adapter": "hf-causal", "arg": {}}}},
     r"unknown key 'systems.llm.arg'; did you mean 'args'\?"),
    ({"systems": {**SYSTEMS, "slm": {"role": "teacher", "train": "x.yaml"}}}, "systems.slm.role"),
    ({"quality": {"limit": "many"}}, "quality.limit"),
    ({"quality": {"paired": "centered"}}, r"'quality.paired' must be one of .*did you mean 'centred'\?"),
])
def test_typos_and_bad_values_name_the_key(tmp_path, changes, message):
    with pytest.raises(BenchError, match=message):
        load_suite(write_suite(tmp_path, **changes))


def test_assisted_pointing_at_a_missing_system_suggests_one(tmp_path):
    systems = dict(SYSTEMS, assisted={"role": "assisted", "target": "llmm", "assistant": "slm"})
    with pytest.raises(BenchError, match=r"systems.assisted.target: 'llmm' is not a system of this suite; "
                                         r"did you mean 'llm'\?"):
        load_suite(write_suite(tmp_path, systems=systems))
    systems = dict(SYSTEMS, assisted={"role": "assisted", "target": "llm"})
    with pytest.raises(BenchError, match="systems.assisted: an assisted system needs exactly one of assistant"):
        load_suite(write_suite(tmp_path, systems=systems))


LLM_FT = {"role": "llm-ft", "train": "configs/{task}/llm.yaml"}


def test_prompt_lookup_is_an_assisted_system_without_an_assistant(tmp_path):
    systems = dict(SYSTEMS, **{"llm-ft": LLM_FT}, lookup={"role": "assisted", "target": "llm-ft", "lookup": 8})
    suite = load_suite(write_suite(tmp_path, systems=systems))
    lookup = suite.for_task("kjv-web")["lookup"]
    assert lookup.paired and lookup.assistant is None and lookup.lookup == 8 and lookup.target == "llm-ft"


@pytest.mark.parametrize("system, message", [
    ({"role": "assisted", "target": "llm", "assistant": "slm", "lookup": 4}, "exactly one of assistant"),
    ({"role": "assisted", "target": "llm", "lookup": 0}, r"lookup: the number of draft tokens must be >= 1, got 0"),
    ({"role": "assisted", "target": "slm", "lookup": 4}, "target: 'slm' must be the LLM or the tuned LLM"),
])
def test_bad_assisted_systems(tmp_path, system, message):
    with pytest.raises(BenchError, match=message):
        load_suite(write_suite(tmp_path, systems=dict(SYSTEMS, bad=system)))


def test_l2s_reads_a_tuned_llm_and_both_small_systems_learn_from_one_teacher(tmp_path):
    systems = dict(SYSTEMS, **{"llm-ft": LLM_FT})
    systems["slm"] = dict(SYSTEMS["slm"], teacher="llm-ft")
    systems["l2s"] = dict(SYSTEMS["l2s"], teacher="llm-ft", llm="llm-ft")
    suite = load_suite(write_suite(tmp_path, systems=systems))
    assert suite.systems["l2s"].llm == "llm-ft" and suite.systems["slm"].teacher == "llm-ft"
    systems["slm"] = dict(SYSTEMS["slm"], teacher="llm")  # the zero-shot LLM as teacher: allowed, but not for one only
    with pytest.raises(BenchError, match="L2S .l2s. and its SLM baseline .slm. learn from different teachers"):
        load_suite(write_suite(tmp_path, systems=systems))


@pytest.mark.parametrize("where, value, message", [
    ("l2s", {"llm": "llm"}, "systems.l2s.llm: 'llm' must be a trained llm-ft system$"),
    ("l2s", {"llm": "llm-fit"}, "systems.l2s.llm: 'llm-fit' is not a system of this suite; did you mean 'llm-ft'"),
    ("slm", {"llm": "llm-ft"}, "systems.slm.llm: only a trained l2s system takes llm:"),
    ("llm", {"teacher": "llm-ft"}, "systems.llm.teacher: only a trained slm or l2s system takes teacher:"),
    ("slm", {"teacher": "assisted"}, "must be a trained llm-ft system or an llm system with args.source"),
])
def test_bad_llm_and_teacher_references(tmp_path, where, value, message):
    systems = dict(SYSTEMS, **{"llm-ft": LLM_FT})
    systems[where] = dict(systems[where], **value)
    if "teacher" in value and where == "slm":
        systems["l2s"] = dict(systems["l2s"], **value)
    with pytest.raises(BenchError, match=message):
        load_suite(write_suite(tmp_path, systems=systems))


def test_assisted_needs_a_trained_assistant(tmp_path):
    systems = dict(SYSTEMS, assisted={"role": "assisted", "target": "llm", "assistant": "llm"})
    with pytest.raises(BenchError, match="must be a trained SLM baseline"):
        load_suite(write_suite(tmp_path, systems=systems))


def test_two_llms_are_refused(tmp_path):
    systems = dict(SYSTEMS, big={"role": "llm", "adapter": "hf-causal"})
    with pytest.raises(BenchError, match="more than one system has role 'llm'"):
        load_suite(write_suite(tmp_path, systems=systems))


def test_two_slm_sizes_each_with_its_l2s(tmp_path):
    """Several SLM sizes share a suite (a Pareto per method); each L2S names its SLM baseline once there are
    several, and an L2S may not learn from other labels than its baseline."""
    from l2s_bench.runner.suite import slm_baselines

    eight = {"overrides": {"slm": {"layers": 8}}}
    systems = dict(SYSTEMS, **{"slm-8": dict(SYSTEMS["slm"], **eight),
                               "l2s-8": dict(SYSTEMS["l2s"], **eight, baseline="slm-8")})
    with pytest.raises(BenchError, match="systems.l2s: the suite has several SLM baselines .slm, slm-8.; name this"):
        load_suite(write_suite(tmp_path, systems=systems))
    systems["l2s"] = dict(SYSTEMS["l2s"], baseline="slm")
    suite = load_suite(write_suite(tmp_path, systems=systems))
    assert slm_baselines(suite.systems) == {"l2s": "slm", "l2s-8": "slm-8"}
    assert slm_baselines(load_suite("default").systems) == {"l2s": "slm"}  # one SLM: no baseline: needed
    with pytest.raises(BenchError, match="'slm-9' is not an slm system of this suite; did you mean 'slm-8'"):
        load_suite(write_suite(tmp_path, systems=dict(systems, **{"l2s-8": dict(systems["l2s-8"], baseline="slm-9")})))
    with pytest.raises(BenchError, match="systems.slm-8.baseline: only an l2s system takes baseline:"):
        load_suite(write_suite(tmp_path, systems=dict(systems, **{"slm-8": dict(systems["slm-8"], baseline="slm")})))
    systems["llm-ft"] = LLM_FT
    systems["l2s-8"] = dict(systems["l2s-8"], teacher="llm-ft")
    with pytest.raises(BenchError, match="L2S 'l2s-8' and its SLM baseline 'slm-8' learn from different teachers"):
        load_suite(write_suite(tmp_path, systems=systems))


def test_a_suite_without_an_llm_is_refused(tmp_path):
    systems = {"slm": SYSTEMS["slm"]}
    with pytest.raises(BenchError, match="role 'llm'"):
        load_suite(write_suite(tmp_path, systems=systems))


def test_the_name_trivial_is_reserved(tmp_path):
    systems = dict(SYSTEMS, trivial={"role": "slm", "adapter": "hf-causal"})
    systems.pop("slm")
    systems["assisted"] = {"role": "assisted", "target": "llm", "assistant": "l2s"}
    with pytest.raises(BenchError, match="systems.trivial: 'trivial' is added to every task"):
        load_suite(write_suite(tmp_path, systems=systems))


@pytest.mark.parametrize("system", [
    {"role": "l2s"},
    {"role": "l2s", "adapter": "llm2slm", "train": "configs/{task}/l2s.yaml"},
])
def test_exactly_one_of_adapter_and_train(tmp_path, system):
    with pytest.raises(BenchError, match="systems.l2s: give exactly one of adapter, train"):
        load_suite(write_suite(tmp_path, systems=dict(SYSTEMS, l2s=system)))


def test_empty_tasks_and_bad_speed_sizes(tmp_path):
    with pytest.raises(BenchError, match="tasks is empty"):
        load_suite(write_suite(tmp_path, tasks=[]))
    with pytest.raises(BenchError, match="speed.n and speed.batch_size"):
        load_suite(write_suite(tmp_path, speed={"n": 0}))


def test_to_dict_round_trips_through_the_loader(tmp_path):
    """collect_results rebuilds the Suite from suite.json's dict: the round trip must be lossless."""
    from l2s_bench.config import from_dict

    suite = load_suite("smoke")
    again = from_dict(Suite, suite.to_dict(), "suite.json")
    assert again == suite and again.hash() == suite.hash()


def test_the_paired_test_is_chosen_per_suite_from_the_metrics_tests(tmp_path):
    import typing

    from l2s_bench.metrics.base import PAIRED_TESTS
    from l2s_bench.runner.suite import QualitySpec

    assert typing.get_args(typing.get_type_hints(QualitySpec)["paired"]) == PAIRED_TESTS
    assert load_suite("default").quality.paired == "sacrebleu"  # the default: sacreBLEU's test, as the tables use
    assert load_suite(write_suite(tmp_path, quality={"paired": "centred"})).quality.paired == "centred"


LEVERS = Path(__file__).resolve().parents[2] / "results" / "probes" / "levers"


@pytest.mark.parametrize("path", sorted(LEVERS.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_lever_study_suites_load_and_train_apart_from_default(path):
    suite = load_suite(path)
    systems = suite.for_task("kjv-web")
    assert suite.quality.split == "valid" and systems["llm-ft"].overrides == {}  # default's tuned LLM, reused
    changed = [name for name in ("slm", "l2s") if systems[name].teacher or systems[name].llm or
               "l2s" in systems[name].overrides]
    for name in changed:  # a lever changes the config hash: its own folder, never default's
        assert systems[name].overrides["out"] == f"runs/{suite.suite}/kjv-web/{name}"
    assert (path.stem == "baseline") == (changed == [])
