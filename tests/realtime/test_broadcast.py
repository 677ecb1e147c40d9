"""realtime.broadcast: best-effort, bounded, never raises."""

import asyncio
import logging
import time

import pytest
from channels_redis.core import RedisChannelLayer

from channels_app import services as channel_services
from presence import store
from realtime import broadcast

pytestmark = pytest.mark.django_db

MESSAGE = {"id": "0" * 24, "channel_id": "6a1c1f6e-0000-4000-8000-000000000001", "seq": 1, "content": "x"}

CALLS = [
    ("message_created", {"message": MESSAGE}),
    ("message_updated", {"message": MESSAGE}),
    ("message_deleted", {"message_id": "0" * 24, "channel_id": MESSAGE["channel_id"]}),
    (
        "member_joined",
        {
            "channel_id": MESSAGE["channel_id"],
            "user_id": "6a1c1f6e-0000-4000-8000-000000000002",
            "workspace_id": "6a1c1f6e-0000-4000-8000-000000000009",
        },
    ),
    (
        "member_left",
        {
            "channel_id": MESSAGE["channel_id"],
            "user_id": "6a1c1f6e-0000-4000-8000-000000000002",
            "workspace_id": "6a1c1f6e-0000-4000-8000-000000000009",
        },
    ),
    (
        "dm_created",
        {
            "conversation_id": MESSAGE["channel_id"],
            "user_ids": ["a", "b"],
            "workspace_id": "6a1c1f6e-0000-4000-8000-000000000009",
        },
    ),
    ("typing", {"user_id": "u", "channel_id": MESSAGE["channel_id"]}),
    (
        "presence_changed",
        {"user_id": "u", "status": "online", "last_seen_at": None, "channel_ids": ["c"], "conversation_ids": ["d"]},
    ),
    (
        "presence_changed_many",
        {
            "changes": [
                {
                    "user_id": "u",
                    "status": "offline",
                    "last_seen_at": None,
                    "channel_ids": ["c"],
                    "conversation_ids": [],
                }
            ]
        },
    ),
]


class HangingLayer:
    async def group_send(self, group, message):
        await asyncio.sleep(30)

    group_add = group_discard = group_send


@pytest.fixture(autouse=True)
def _no_cooldown():
    broadcast.delivery._cooldown_until = 0.0
    yield
    broadcast.delivery._cooldown_until = 0.0


@pytest.fixture
def dead_redis(monkeypatch):
    """The channel layer and the presence registry point at a port nobody listens on."""
    import redis

    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:1/0"])
    monkeypatch.setattr(broadcast.delivery, "get_channel_layer", lambda: layer)
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(store, "get_redis", lambda: dead)


@pytest.mark.parametrize(("name", "kwargs"), CALLS, ids=[name for name, _ in CALLS])
def test_a_broadcast_with_redis_down_logs_and_returns(dead_redis, caplog, name, kwargs):
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="realtime.broadcast"):
        assert getattr(broadcast, name)(**kwargs) is None

    assert time.monotonic() - started < 2
    assert "not delivered" in caplog.text


def test_after_a_failure_broadcasts_pause_briefly(dead_redis, caplog):
    broadcast.message_created(message=MESSAGE)
    started = time.monotonic()

    with caplog.at_level(logging.DEBUG, logger="realtime.broadcast"):
        broadcast.message_created(message=MESSAGE)

    assert time.monotonic() - started < 0.05
    assert "cooling down" in caplog.text


def test_a_hanging_layer_is_cut_off_by_the_timeout(monkeypatch, settings):
    settings.REALTIME_BROADCAST_TIMEOUT_SECONDS = 0.2
    monkeypatch.setattr(broadcast.delivery, "get_channel_layer", lambda: HangingLayer())
    started = time.monotonic()

    broadcast.message_created(message=MESSAGE)

    assert 0.15 < time.monotonic() - started < 1.5


async def test_a_broadcast_called_on_the_event_loop_thread_does_not_raise(caplog):
    with caplog.at_level(logging.WARNING, logger="realtime.broadcast"):
        broadcast.message_created(message=MESSAGE)

    assert "not delivered" in caplog.text


def test_a_broadcast_failure_never_fails_a_write(dead_redis, make_user):
    """Joining posts a SYSTEM message and broadcasts twice; both fail quietly."""
    user = make_user()

    channel = channel_services.channel_create(user=user, name="still-works")

    assert channel.member_count == 1


def test_frames_are_encoded_once_with_their_type():
    event = broadcast.frame_event("member.joined", {"channel_id": "c", "user_id": "u"}, extra=1)

    assert event == {
        "type": "member.joined",
        "text": '{"type":"member.joined","channel_id":"c","user_id":"u"}',
        "extra": 1,
    }


def test_a_rest_send_answers_201_and_stores_while_the_channel_layer_is_down(make_user, client_for, dead_redis):
    user = make_user()
    channel = channel_services.channel_create(user=user, name="layer-down")
    client = client_for(user)

    started = time.monotonic()
    response = client.post(f"/api/v1/channels/{channel.pk}/messages", {"content": "stored anyway"}, format="json")

    assert response.status_code == 201
    assert time.monotonic() - started < 2
    history = client.get(f"/api/v1/channels/{channel.pk}/messages").json()["results"]
    assert [m["content"] for m in history][-1] == "stored anyway"
