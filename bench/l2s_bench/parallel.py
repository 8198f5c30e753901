"""Data parallelism: several processes (ranks) share one suite run, through accelerate.

`l2s-bench run SUITE --processes N` starts N ranks on this machine with torch's launcher (torchrun,
`--standalone`); the same command started by `accelerate launch` or `torchrun` (one machine or several)
runs the same way, each rank reading its place from the launcher's environment (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT). accelerate's `PartialState` sets up the process group: gloo on
CPU, NCCL on GPUs, one GPU per rank: it makes the rank's GPU the current CUDA device, so `cuda` means that
GPU and every rank resolves, hashes and names a system's settings alike.

What is sharded, and how the result stays the one-process result:
- training: DDP. Each rank takes rows `rank::N` of every global batch, and its loss is scaled by its share
  of the batch's response tokens, so the averaged gradient is the global batch's
  (`l2s_bench.method.train`): N ranks train the model one process trains, up to float reduction order;
- LLM feature caching: shard k of the on-disk cache is computed by rank k mod N (`l2s_bench.method.features`);
- the quality pass: the one-process batches (same items, same padding) are dealt out, batch k to rank
  k mod N; each rank appends to its own samples shard, and rank 0 merges the shards in manifest order
  (`l2s_bench.runner.run`), so a killed rank loses at most its batch in flight and `--resume` finishes;
- speed passes: rank 0 alone, the others wait, so timings are not disturbed;
- suite.json, manifests and results.json: rank 0 alone.
"""

from __future__ import annotations

import datetime as dt
import os

from l2s_bench.errors import BenchError

TIMEOUT = dt.timedelta(hours=12)  # a rank may wait this long at a barrier (rank 0's speed passes, a long merge)


def launched() -> bool:
    """Started by a distributed launcher with more than one rank."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


_STATE = None


def setup(device: str):
    """Join the launcher's process group (once), for a suite on `device`; None for one process."""
    global _STATE
    if _STATE is None and launched():
        from accelerate import PartialState

        _STATE = PartialState(cpu=not device.startswith("cuda"), timeout=TIMEOUT)
    return _STATE


def state():
    """accelerate's process state once `setup` ran under a launcher; None for one process."""
    return _STATE


def world() -> int:
    return state().num_processes if state() else 1


def rank() -> int:
    return state().process_index if state() else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if state():
        state().wait_for_everyone()


def mine(k: int) -> bool:
    """Is the k-th unit of work (a batch, a cache shard) this rank's? Dealt round-robin."""
    return k % world() == rank()


def launch(argv: list[str], processes: int) -> None:
    """Run `l2s-bench <argv>` as `processes` ranks on this machine (torchrun --standalone); a failed rank
    is a BenchError."""
    if processes < 1:
        raise BenchError(f"--processes must be >= 1, got {processes}")
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(["--standalone", "--nproc-per-node", str(processes), "--module",
                                         "l2s_bench.cli", *argv])
    try:
        run(args)
    except Exception as e:  # torch's ChildFailedError: the failing rank's own message was printed above it
        raise BenchError(f"a rank failed ({type(e).__name__}); see its output above. Finished work is kept: "
                         "rerun with --resume") from None


# ------------------------------------------------------------------------------------- training (DDP)

def ddp(model):
    """The model as DDP when there are several ranks (gradients averaged over ranks), else itself."""
    if not state():
        return model
    from torch.nn.parallel import DistributedDataParallel

    gpu = state().device.type == "cuda"
    # find_unused_parameters: an SLM baseline leaves the (trainable) projector out of its forward
    return DistributedDataParallel(model, device_ids=[state().local_process_index] if gpu else None,
                                   find_unused_parameters=True)


def rows(batch: list[int]) -> list[int]:
    """This rank's rows of a global batch (all of it for one process)."""
    if state() and len(batch) < world():
        raise BenchError(f"a batch of {len(batch)} cannot be split over {world()} ranks; use fewer --processes")
    return batch[rank()::world()]


def token_share(local_tokens: int, batch_tokens: int) -> float:
    """The factor on a rank's mean loss that makes DDP's average of gradients the gradient of the global
    batch's mean loss: its share of the batch's loss tokens, times N. Exactly 1.0 for one process."""
    return local_tokens * world() / batch_tokens


def global_mean(loss, share: float) -> float:
    """The global batch's mean loss from each rank's mean loss and token share."""
    value = loss.detach().float() * share
    if state():
        import torch.distributed as dist

        dist.all_reduce(value)
        value = value / world()
    return value.item()
