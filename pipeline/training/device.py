"""Device set-up of a run: which device, its process-wide settings, and compilation.

``pick_device`` serves every command that runs a model (the training stages, ``sample``,
``generate``, ``accompany``); ``configure_device`` and ``compile_networks`` are called once by
``runner.run_training`` where a run starts.
"""

from __future__ import annotations

import ctypes

import torch

from pipeline.training.critic_loss import CriticLoss, compiled_critic_loss
from pipeline.training.networks import Networks


def pick_device(name: str) -> torch.device:
    """``optim.device``: auto = CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("optim.device is cuda but no CUDA device is available")
    return torch.device(name)


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for reuse instead of handing it back to the kernel.

    A stage-one step at batch 32 allocates and frees tensors of 100 to 300 MB many times. glibc
    serves every block over 32 MB from a fresh ``mmap`` and unmaps it when freed, so each step
    page-faults all of its memory in again: on a 2-core machine a third of the training's CPU
    time was kernel time. With ``mmap`` and trimming off, freed blocks are reused. The values
    are the same; only the speed (benchmarks/RESULTS.md) and the process's resident memory
    (it stays at its peak) change. Blocks a worker thread's arena cannot hold fall back to the
    main heap (glibc retries there). Returns False where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))


def configure_device(device: torch.device, tf32: bool) -> None:
    """The process-wide settings of a run, set once where the device is chosen.

    ``cudnn.benchmark`` (the fastest convolution algorithm per shape; the shapes are fixed) and
    one TF32 policy through the fp32-precision API only (torch 2.13 refuses a mix with the old
    ``allow_tf32`` flags): ``"tf32"`` for matmuls and cuDNN convolutions with ``optim.tf32``,
    else ``"ieee"``, true fp32 as on the CPU (PyTorch's own default runs convolutions in TF32).
    On the CPU: ``keep_freed_memory``.
    """
    if device.type != "cuda":
        keep_freed_memory()
        return
    torch.backends.cudnn.benchmark = True
    if not hasattr(torch.backends.cuda.matmul, "fp32_precision"):  # torch before the new API
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        return
    precision = "tf32" if tf32 else "ieee"
    torch.backends.cuda.matmul.fp32_precision = precision
    torch.backends.cudnn.conv.fp32_precision = precision  # type: ignore[attr-defined]


def compile_networks(nets: Networks, bf16: bool) -> CriticLoss:
    """``optim.compile``: compile G and R in place, and return the compiled critic loss.

    D itself stays eager for the generator step; its critic loss, gradient penalty included, is
    one compiled function (``critic_loss.compiled_critic_loss``). Compiling changes the results
    by float rounding only; on the CPU, inductor needs a C compiler (docs/gpu.md).
    """
    for module in (nets.generator, nets.refiner):
        if module is not None:
            module.compile()
    return compiled_critic_loss(nets.discriminator, bf16)
