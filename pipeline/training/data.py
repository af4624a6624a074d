"""The training tensor on the device, epoch permutations, and the per-iteration latent vectors.

The whole bool tensor ``(N, 4, 96, 84, T)`` is moved to the device once; a minibatch is gathered
by index on the device and cast to float ``{0, 1}`` (no DataLoader, no host-device copies per
step).

Every random quantity that defines *which* data an iteration sees is a pure function of
``(seed, counter)``, drawn from its own seeded ``torch.Generator`` on the CPU:

* the permutation of epoch ``e``: ``randperm(N)`` seeded by ``(seed, "epoch", e)``, reshaped to
  ``(N // batch, batch)``; the remainder is dropped (docs/model.md, section 4.3);
* the latent batch ``z`` of iteration ``i``: standard normal, seeded by ``(seed, "z", i)``;
* the fixed monitoring batch: seeded by ``(seed, "monitor")``.

So a resumed run needs no data-RNG state, and CPU and GPU runs see the same data and the same z.
Only the noise drawn inside an update (the gradient-penalty epsilon, SBN noise) uses the global
torch RNG, whose state goes into snapshots.

No step waits for the device: ``batch`` gathers on the device by a device index (the epoch's
permutation is copied once per epoch), and ``latent`` queues its copy from pinned memory.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch

from pipeline.data.phrase_check import iter_checked_chunks
from pipeline.data.phrase_file import count_phrases

_CHUNK = 256  # phrases read from HDF5 at a time while filling the device tensor


def derive_seed(seed: int, purpose: str, counter: int = 0) -> int:
    """A 63-bit seed for one independent random stream, from the params seed."""
    words = [seed & 0xFFFFFFFF, zlib.crc32(purpose.encode()), counter & 0xFFFFFFFF]
    state = np.random.SeedSequence(words).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def seeded_generator(seed: int, purpose: str, counter: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` for one stream."""
    return torch.Generator().manual_seed(derive_seed(seed, purpose, counter))


def load_tensor(path: str | Path, device: torch.device) -> torch.Tensor:
    """The phrases of ``path``: one bool tensor (N, bars, steps, pitches, tracks) on ``device``."""
    n = count_phrases(path)
    out: torch.Tensor | None = None
    start = 0
    for chunk in iter_checked_chunks(path, _CHUNK):
        if out is None:
            out = torch.empty((n, *chunk.shape[1:]), dtype=torch.bool, device=device)
        out[start : start + len(chunk)] = torch.from_numpy(chunk).to(device)
        start += len(chunk)
    if out is None:
        raise ValueError(f"{path}: the phrase file holds no phrases")
    return out


def latent(seed: int, purpose: str, counter: int, n: int, z_dim: int, device: torch.device):
    """Standard-normal latent vectors ``(n, z_dim)`` for one counter of one stream."""
    z = torch.randn((n, z_dim), generator=seeded_generator(seed, purpose, counter))
    if device.type == "cuda":  # pinned host memory: the copy is queued, the host does not wait
        return z.pin_memory().to(device, non_blocking=True)
    return z.to(device)


class TrainingData:
    """Minibatches of one run: ``batch(i)`` is the real minibatch of 0-based iteration ``i``."""

    def __init__(self, phrases: torch.Tensor, batch_size: int, seed: int) -> None:
        n = phrases.shape[0]
        if n < batch_size:
            raise ValueError(f"the tensor holds {n} phrases, fewer than one batch of {batch_size}")
        self.phrases = phrases
        self.batch_size = batch_size
        self.seed = seed
        self.iterations_per_epoch = n // batch_size
        self._epoch = -1
        self._order = torch.empty(0, dtype=torch.long)

    def epoch_of(self, iteration: int) -> int:
        """0-based epoch of ``iteration``; an epoch is ``N // batch`` iterations."""
        return iteration // self.iterations_per_epoch

    def permutation(self, epoch: int) -> torch.Tensor:
        """Indices ``(N // batch, batch)`` of ``epoch``: a fresh permutation, remainder dropped."""
        gen = seeded_generator(self.seed, "epoch", epoch)
        perm = torch.randperm(self.phrases.shape[0], generator=gen)
        k = self.iterations_per_epoch * self.batch_size
        return perm[:k].view(self.iterations_per_epoch, self.batch_size)

    def batch(self, iteration: int) -> torch.Tensor:
        """The real minibatch ``(batch, bars, steps, pitches, tracks)`` as float {0, 1}."""
        epoch = self.epoch_of(iteration)
        if epoch != self._epoch:
            self._order = self.permutation(epoch).to(self.phrases.device)
            self._epoch = epoch
        index = self._order[iteration % self.iterations_per_epoch]
        return self.phrases[index].float()
