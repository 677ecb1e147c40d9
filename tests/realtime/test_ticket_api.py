"""POST /api/v1/realtime/ticket"""

import pytest
import redis

from realtime import tickets
from slackclone.redis_client import get_redis

pytestmark = pytest.mark.django_db


def test_a_ticket_needs_a_token(anon):
    response = anon.post("/api/v1/realtime/ticket")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_ticket_is_single_use_and_expires_in_60_seconds(make_user, client_for):
    user = make_user()

    response = client_for(user).post("/api/v1/realtime/ticket")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ticket", "expires_in"}
    assert body["expires_in"] == 60
    assert len(body["ticket"]) >= 40
    key = tickets._key(body["ticket"])
    assert 0 < get_redis().ttl(key) <= 60
    assert body["ticket"].encode() not in get_redis().get(key)  # only its hash is a key
    assert tickets.ticket_redeem(ticket=body["ticket"])[0] == user
    assert tickets.ticket_redeem(ticket=body["ticket"]) is None


def test_each_ticket_is_new(make_user, client_for):
    client = client_for(make_user())

    assert (
        client.post("/api/v1/realtime/ticket").json()["ticket"]
        != client.post("/api/v1/realtime/ticket").json()["ticket"]
    )


def test_a_ticket_is_503_when_redis_is_down(make_user, client_for, monkeypatch):
    client = client_for(make_user())
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(tickets, "get_redis", lambda: dead)

    response = client.post("/api/v1/realtime/ticket")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_unavailable"
