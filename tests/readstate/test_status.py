"""PATCH /users/me status fields (issue 18)."""

import pytest

pytestmark = pytest.mark.django_db


def test_status_fields_round_trip_and_clear(alice, client_for):
    client = client_for(alice)
    me = client.get("/api/v1/users/me").json()
    assert (me["status_text"], me["status_emoji"], me["dnd"], me["dnd_until"]) == ("", "", False, None)
    answer = client.patch(
        "/api/v1/users/me", {"status_text": "lunch", "dnd_until": "2020-01-01T00:00:00Z"}, format="json"
    )
    assert answer.status_code == 200
    assert answer.json()["status_text"] == "lunch" and answer.json()["dnd"] is False  # in the past
    answer = client.patch("/api/v1/users/me", {"dnd_until": None, "status_text": ""}, format="json")
    assert answer.json()["dnd_until"] is None and answer.json()["status_text"] == ""
    assert answer.json()["username"] == "alice"


@pytest.mark.parametrize(
    "body", [{"status_text": "x" * 101}, {"dnd_until": "tomorrow"}, {"status_emoji": 5}, {"status_text": None}]
)
def test_bad_status_fields_are_400(alice, client_for, body):
    answer = client_for(alice).patch("/api/v1/users/me", body, format="json")
    assert answer.status_code == 400, answer.json()
