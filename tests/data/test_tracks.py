"""Track sets (pipeline/data/tracks.py): finding one by a checkpoint's track names."""

from pathlib import Path

import pytest

from pipeline.data.tracks import TRACK_SET_NAMES, get_track_set, track_set_named_by
from pipeline.errors import DataError


@pytest.mark.parametrize("name", TRACK_SET_NAMES)
def test_known_track_sets_are_recognised_by_their_names(name):
    track_set = get_track_set(name)
    assert track_set_named_by(list(track_set.info.names), Path("ckpt.pt")) is track_set


def test_names_in_another_order_or_unknown_are_refused_naming_the_source():
    names = list(get_track_set("bmusegan8").info.names)
    for wrong in (names[::-1], names[:-1], [*names[:-1], "Kazoo"]):
        with pytest.raises(DataError, match=r"model\.pt: tracks .* match no known track set"):
            track_set_named_by(wrong, Path("model.pt"))
