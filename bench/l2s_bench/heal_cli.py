"""`l2s-bench heal [CONFIG]`: heal a config's SLM once, ahead of training (l2s_bench.method.heal); a thin command
module, so `l2s-bench --help` does not import torch."""

from __future__ import annotations

import json

from l2s_bench.argtypes import positive_int
from l2s_bench.errors import BenchError


def register(sub) -> None:
    h = sub.add_parser("heal", help="heal the SLM of a training config once (cached; `run` and `train` do it "
                                     "when missing); prints its copy diagnostic")
    h.add_argument("config", nargs="?", default="configs/smollm2.yaml",
                   help="a YAML with `llm` and `slm` sections (default: the embedded system)")
    h.add_argument("--threads", type=positive_int, help="torch CPU threads (default: every available core)")
    h.set_defaults(func=_cmd_heal)


def _cmd_heal(args) -> None:
    from l2s_bench import machine
    from l2s_bench.config import from_dict, load_yaml
    from l2s_bench.method import heal, pretrained, slm

    raw = load_yaml(args.config)
    spec = from_dict(slm.SLMSpec, raw.get("slm", {}), f"{args.config}: slm")
    if spec.init != "truncate" or not spec.heal.steps:
        raise BenchError(f"{args.config}: slm.init 'truncate' with slm.heal.steps > 0 is needed to heal")
    machine.set_threads(args.threads)
    llm = pretrained.load(raw.get("llm", "smollm2-135m-instruct"))
    slm.healed(spec, llm)
    info = slm.build_info(spec, llm)
    print(f"healed SLM: {heal.folder_for(llm.hash, spec.layers, spec.lens, spec.heal) / 'final'}")
    print(json.dumps({"copying": {k: {m: v[m] for m in ('copy_source', 'repeat')} for k, v in info['copying'].items()},
                      "seconds": info["seconds"], "steps": info["steps"]}))
