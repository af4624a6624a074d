"""Fixtures of the robustness tests: the training tests' tiny phrase file, params and stage one."""

from tests.training.conftest import stage_one, tensor, tiny  # noqa: F401
