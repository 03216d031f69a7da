"""``strategy=fsdp``: fully sharded data parallel (PyTorch's FSDP2, ``fully_shard``) through
Lightning's :class:`~lightning.pytorch.strategies.ModelParallelStrategy`, for teachers too
large to replicate on every device.

Under DDP each of N devices holds the whole frozen teacher, the whole student, its gradients
and AdamW's two moments. Here each holds 1/N of every one of them: every transformer block of
teacher and student is its own shard unit (the blocks
:func:`~distill_zoo.models.dims.transformer_layers` finds, so any family the wrapper reads is
covered), then each model's remaining parameters (embeddings, final norm, head) and the
objective's (projections) form one unit each. A block's weights are gathered for its forward
and backward only; the frozen teacher's for its forward. Unlike PyTorch's FSDP1, FSDP2 also
runs on CPU processes (gloo), which is how the tests exercise it.

After training, every rank takes part in gathering the full student (:func:`full_state_dict`);
rank 0 saves it and evaluates models loaded afresh.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.strategies import ModelParallelStrategy
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import fully_shard
from transformers import PreTrainedModel

from distill_zoo.models.dims import transformer_layers


class FullyShardedStrategy(ModelParallelStrategy):
    """Lightning's model-parallel strategy as pure data parallelism: one mesh dimension of
    every device (``tensor_parallel_size`` 1); the module shards itself in ``configure_model``.

    Args:
        reshard_after_forward: free a block's gathered weights after its forward (True, least
            memory: ZeRO-3) or keep them until its backward (False: ZeRO-2-like, less traffic).
        **kwargs: ModelParallelStrategy's (``process_group_backend``, ``timeout``, ...).
    """

    def __init__(self, reshard_after_forward: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("save_distributed_checkpoint", False)  # one checkpoint file, as the other strategies
        super().__init__(**kwargs)
        self.reshard_after_forward = reshard_after_forward

    def setup_environment(self) -> None:
        self._data_parallel_size = self.num_nodes * self.num_processes
        self._tensor_parallel_size = 1
        super().setup_environment()


def shard(models: list[nn.Module], mesh: DeviceMesh, reshard_after_forward: bool = True) -> None:
    """``fully_shard`` each transformer block of every Hugging Face model in ``models``, then
    each of ``models`` (what is left of it: embeddings, norms, heads, projections)."""
    mesh = mesh["data_parallel"] if mesh.mesh_dim_names and "data_parallel" in mesh.mesh_dim_names else mesh
    blocks: dict[int, nn.Module] = {}  # a causal LM nests its base model, a PreTrainedModel too
    for model in models:
        for hf in [m for m in model.modules() if isinstance(m, PreTrainedModel)]:
            blocks.update({id(block): block for block in transformer_layers(hf)})
    for block in blocks.values():
        fully_shard(block, mesh=mesh, reshard_after_forward=reshard_after_forward)
    for model in models:
        if any(True for _ in model.parameters()):
            fully_shard(model, mesh=mesh, reshard_after_forward=reshard_after_forward)


def is_sharded(model: nn.Module) -> bool:
    """Whether ``model``'s parameters are FSDP2 shards (DTensors)."""
    return any(type(p).__name__ == "DTensor" for p in model.parameters())


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole, unsharded state dict of a sharded ``model`` on CPU, on rank 0 (empty on the
    others). A collective: every rank must call it."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return {name: torch.as_tensor(value) for name, value in get_model_state_dict(model, options=options).items()}
