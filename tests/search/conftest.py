"""Fixtures of the search tests: channels and DMs (the messaging tests' fixtures), and a
helper that searches through the API."""

import pytest

from tests.messaging.conftest import channel, dm, group_dm, make_channel, make_dm, mongo_down  # noqa: F401


@pytest.fixture
def search(client_for):
    """search(user, q, **params) -> the JSON answer of GET /search/messages (asserts 200)."""

    def run(user, q, expect=200, **params):
        response = client_for(user).get("/api/v1/search/messages", {"q": q, **params})
        assert response.status_code == expect, response.content
        return response.json()

    return run


def contents(page) -> list[str]:
    return [result["message"]["content"] for result in page["results"]]
