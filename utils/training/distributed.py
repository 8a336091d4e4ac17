"""Several processes, one model: the little that fit needs from torch.distributed.

torchrun starts N copies of the same command and tells each who it is through environment variables
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). `setup` reads them, joins the process group
(NCCL between GPUs, Gloo on CPUs) and picks this process's device. Without torchrun it returns a world
of one process and nothing here touches torch.distributed.
"""

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..device import pick_device


@dataclass(frozen=True)
class World:
    device: torch.device
    rank: int = 0  # this process, 0..size-1
    size: int = 1  # how many processes train together
    local_rank: int = 0  # this process on its own machine: which GPU it uses

    @property
    def is_main(self) -> bool:
        """Rank 0 alone prints and writes files."""
        return self.rank == 0

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Add up `tensor` over all processes (in place); a no-op for one process."""
        if self.size > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str | torch.device | None = None) -> World:
    """This process's place in the run; joins the process group on the first call under torchrun."""
    if not launched_by_torchrun():
        return World(device=pick_device(device))
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = pick_device(device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)  # one GPU per process
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        atexit.register(cleanup)  # leaving without destroy_process_group makes torch warn on stderr
    return World(device=device, rank=rank, size=size, local_rank=local_rank)


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
