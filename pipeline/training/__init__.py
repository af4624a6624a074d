"""GAN training: WGAN-GP loop, critic schedule, checkpoints, monitoring (docs/model.md, section 4).

Modules:

* ``schedule``    the critic schedule (n_critic per iteration) as a pure function
* ``data``        the training tensor on the device, per-epoch permutations, per-iteration z
* ``experiments`` which networks each stage / experiment builds, loads and trains
* ``gan``         the loss, the gradient penalty and the training loop
* ``checkpoint``  self-describing checkpoints, resume snapshots, ``load_sampler``
* ``monitor``     the fixed monitoring batch, its metrics and the CSV training log
* ``runner``      what both training stages share: setup, resume, outputs
"""
