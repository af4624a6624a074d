"""The stage tests use fixtures of the library tests beside them: the real data's paths
(``tests/data``), real bars (``tests/metrics``), a tiny trained stage one (``tests/training``)."""

from tests.data.conftest import data_paths  # noqa: F401
from tests.metrics.conftest import real_bars  # noqa: F401
from tests.training.conftest import stage_one, tensor, tiny  # noqa: F401
