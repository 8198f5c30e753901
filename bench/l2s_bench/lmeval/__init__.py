"""lm-evaluation-harness integration: the `llm2slm` model and l2s-bench tasks exported as lm-eval tasks.

Importing this package registers `llm2slm` with lm-eval (lm-eval 0.4's CLI does not discover
out-of-tree models, hence `l2s-bench lm-eval ...`, which imports it first):

    import l2s_bench.lmeval, lm_eval
    lm_eval.simple_evaluate(model="llm2slm", model_args="checkpoint=runs/x/final", tasks=["l2s_kjv-web"],
                            task_manager=lm_eval.tasks.TaskManager(include_path="lm-eval-tasks"))

`l2s_bench.lmeval.tasks.export` (`l2s-bench export-lm-eval`) writes those task folders.
"""

from l2s_bench.lmeval.model import LLM2SLMLM

__all__ = ["LLM2SLMLM"]
