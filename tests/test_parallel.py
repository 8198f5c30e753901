"""`l2s_bench.parallel` in one process (the several-rank paths run under torchrun in tests/method/test_train.py
and tests/runner/test_run.py), and how `run --processes` rebuilds its command line."""

from __future__ import annotations

import pytest
import torch

from l2s_bench import parallel
from l2s_bench.cli import without_option
from l2s_bench.errors import BenchError


def test_one_process_is_the_identity(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not parallel.launched() and parallel.setup("cpu") is None
    assert (parallel.world(), parallel.rank(), parallel.is_main()) == (1, 0, True)
    assert parallel.rows([5, 1, 4, 2]) == [5, 1, 4, 2] and all(parallel.mine(k) for k in range(5))
    assert parallel.token_share(37, 37) == 1.0  # the loss is not rescaled: one process trains as before
    assert parallel.global_mean(torch.tensor(2.5), 1.0) == 2.5
    model = torch.nn.Linear(2, 2)
    assert parallel.ddp(model) is model
    parallel.barrier()  # a no-op: it starts no process group
    assert not torch.distributed.is_initialized()


def test_the_launch_refuses_zero_processes():
    with pytest.raises(BenchError, match="--processes must be >= 1"):
        parallel.launch(["run", "smoke"], 0)


@pytest.mark.parametrize("argv", [["run", "smoke", "--processes", "2", "--resume"],
                                  ["run", "smoke", "--processes=2", "--resume"]])
def test_the_ranks_get_the_command_without_processes(argv):
    assert without_option(argv, "--processes") == ["run", "smoke", "--resume"]
