from unittest import mock

import pytest

from realtime import broadcast


@pytest.fixture
def announced():
    """The presence changes broadcast during the test, one dict each (nothing is sent)."""
    calls: list[dict] = []
    with mock.patch.object(broadcast, "presence_changed_many", side_effect=lambda *, changes: calls.extend(changes)):
        yield calls


@pytest.fixture
def fast_presence(settings):
    settings.PRESENCE_GRACE_SECONDS = 0.3
    settings.PRESENCE_SWEEP_SECONDS = 0.1
    return settings
