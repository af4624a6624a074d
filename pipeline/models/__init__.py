"""The networks of BinaryMuseGAN (paper section 3; docs/model.md, section 2).

Every public network takes and returns the dataset's channels-last layout
``(batch, bar=4, time=96, pitch=84, track)`` (or ``z`` of shape ``(batch, z_dim)``). See
``python -m pipeline.models --summary`` for each network's layers, output shapes and parameter
counts.
"""

from pipeline.models.binary import BinaryNeuron, anneal_slope
from pipeline.models.discriminator import (
    Discriminator,
    beat_chroma_feature,
    build_discriminator,
    onset_offset,
    onset_offset_feature,
)
from pipeline.models.generator import Generator, build_generator
from pipeline.models.refiner import (
    End2EndGenerator,
    Refiner,
    build_end2end_generator,
    build_refiner,
)
from pipeline.models.summary import count_parameters, layer_table

__all__ = [
    "BinaryNeuron",
    "Discriminator",
    "End2EndGenerator",
    "Generator",
    "Refiner",
    "anneal_slope",
    "beat_chroma_feature",
    "build_discriminator",
    "build_end2end_generator",
    "build_generator",
    "build_refiner",
    "count_parameters",
    "layer_table",
    "onset_offset",
    "onset_offset_feature",
]
