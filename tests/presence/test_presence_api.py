"""GET /api/v1/presence?user_ids=..."""

import uuid

import pytest
import redis

from presence import store
from presence.services import presence_connect

pytestmark = pytest.mark.django_db

# Issue 18: presence gains the status fields (empty, no DND, for these users).
NO_STATUS = {"status_text": "", "status_emoji": "", "dnd": False, "dnd_until": None}


def get(client, user_ids: str):
    return client.get("/api/v1/presence", {"user_ids": user_ids})


def test_presence_needs_a_token(anon):
    response = get(anon, str(uuid.uuid4()))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_presence_answers_each_user_in_the_order_asked_without_repeats(make_user, client_for):
    viewer, a, b = make_user(), make_user(), make_user()
    presence_connect(user_id=str(b.pk), connection="b-1")

    response = get(client_for(viewer), f"{b.pk}, {a.pk},{b.pk}".upper())

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["user_id"] for r in results] == [str(b.pk), str(a.pk)]
    assert results[0]["status"] == "online"
    assert results[0]["last_seen_at"].endswith("Z")
    assert results[1] == {"user_id": str(a.pk), "status": "offline", "last_seen_at": None, **NO_STATUS}


def test_an_unknown_user_reads_as_offline(make_user, client_for):
    unknown = str(uuid.uuid4())

    response = get(client_for(make_user()), unknown)

    assert response.json() == {
        "results": [{"user_id": unknown, "status": "offline", "last_seen_at": None, **NO_STATUS}]
    }


def test_an_empty_list_answers_no_results(make_user, client_for):
    assert get(client_for(make_user()), "").json() == {"results": []}


def test_user_ids_is_required(make_user, client_for):
    response = client_for(make_user()).get("/api/v1/presence")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"user_ids": ["This field is required."]}


def test_a_bad_uuid_is_a_400(make_user, client_for):
    response = get(client_for(make_user()), f"{uuid.uuid4()},nope")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "user_ids" in response.json()["error"]["fields"]


def test_at_most_200_users(make_user, client_for):
    client = client_for(make_user())

    assert get(client, ",".join(str(uuid.uuid4()) for _ in range(200))).status_code == 200
    response = get(client, ",".join(str(uuid.uuid4()) for _ in range(201)))
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["user_ids"] == ["At most 200 user ids."]


def test_presence_is_503_when_redis_is_down(make_user, client_for, monkeypatch):
    client = client_for(make_user())
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(store, "get_redis", lambda: dead)

    response = get(client, str(uuid.uuid4()))

    assert response.status_code == 503
    assert response["Retry-After"]
    assert response.json()["error"] == {"code": "store_unavailable", "message": response.json()["error"]["message"]}
