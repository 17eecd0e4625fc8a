"""``pystack.netns`` is the home of the namespace helpers; the old ``pystack.testing.netns``
import path must keep handing out the very same objects."""

from __future__ import annotations

import pytest

import pystack.netns
import pystack.testing.netns

# Everything pystack.testing.netns offered before the helpers moved.
FORMER_API = ("CLONE_NEWNET", "NETNS_DIR", "enter", "enter_fd", "exists", "ip", "listing",
              "popen", "run")  # fmt: skip


@pytest.mark.parametrize("name", FORMER_API)
def test_both_import_paths_give_the_same_object(name: str) -> None:
    assert getattr(pystack.testing.netns, name) is getattr(pystack.netns, name)


def test_star_import_from_the_old_path_still_offers_the_former_api() -> None:
    assert sorted(pystack.testing.netns.__all__) == sorted(FORMER_API)
