"""Injection and abuse: MongoDB operator injection through every JSON field and query
parameter that reaches a message query (REST and WebSocket), oversized bodies and
frames, rate limits, and tokens kept out of the logs.

Covered elsewhere (referenced, not repeated): foreign WebSocket origins are refused at
the handshake (tests/realtime/test_ws_auth.py::test_a_foreign_origin_is_refused_at_the_handshake),
Argon2 in production settings (tests/accounts/test_password_hashing.py), per-IP auth
throttling with Retry-After (tests/accounts/test_throttling.py), oversized frames by
bytes (tests/realtime/test_ws_frames.py).
"""

import json
import logging
import uuid

import pytest

from messaging.mongo import get_db
from slackclone.api.throttling import WriteRateThrottle
from tests.conftest import token_for
from tests.realtime.support import bearer, communicator, in_thread, next_frame

OPERATOR_VALUES = [
    {"$gt": ""},
    {"$where": "sleep(1000) || true"},
    {"$ne": None},
    {"content.x": 1},
    {"$regex": ".*"},
    ["a", "b"],
    [{"$gt": ""}],
    None,
    12,
    True,
]
OPERATOR_STRINGS = ['{"$gt": ""}', '{"$ne": null}', "[$ne]", "$where", "content.x", "a.b", '{"_id": {"$gt": ""}}']


@pytest.fixture
def setup(make_user):
    from channels_app.services import channel_create
    from dms.services import dm_open
    from messaging.services import message_send

    alice, bob = make_user("alice"), make_user("bob")
    channel = channel_create(user=alice, name="inject")
    dm, _ = dm_open(user=alice, other_user_id=bob.id)
    targets = {
        "channel": (f"/api/v1/channels/{channel.id}/messages", "channel_messages", {"channel_id": str(channel.id)}),
        "dm": (f"/api/v1/dms/{dm.id}/messages", "dm_messages", {"conversation_id": str(dm.id)}),
    }
    messages = {
        "channel": message_send(sender=alice, channel_id=channel.id, content="original").message,
        "dm": message_send(sender=alice, conversation_id=dm.id, content="original").message,
    }
    return alice, targets, messages


def _snapshot():
    db = get_db()
    return {name: sorted(map(repr, db[name].find({}))) for name in ("channel_messages", "dm_messages")}


@pytest.mark.parametrize("target", ["channel", "dm"])
@pytest.mark.parametrize("value", OPERATOR_VALUES, ids=repr)
@pytest.mark.parametrize("field", ["content", "client_msg_id"])
def test_operator_values_in_a_send_are_400_and_store_nothing(client_for, setup, target, field, value):
    alice, targets, _ = setup
    url, _, _ = targets[target]
    before = _snapshot()
    body = {"content": "hello", field: value}
    if field == "client_msg_id" and value is None:
        pytest.skip("a null client_msg_id means 'none' (documented)")

    response = client_for(alice).post(url, body, format="json")

    assert response.status_code == 400, response.content
    assert _snapshot() == before


@pytest.mark.parametrize("target", ["channel", "dm"])
@pytest.mark.parametrize("value", OPERATOR_VALUES, ids=repr)
def test_operator_values_in_an_edit_are_400_and_change_nothing(client_for, setup, target, value):
    alice, targets, messages = setup
    url, _, _ = targets[target]
    before = _snapshot()

    response = client_for(alice).patch(f"{url}/{messages[target].id}", {"content": value}, format="json")

    assert response.status_code == 400, response.content
    assert _snapshot() == before


@pytest.mark.parametrize("target", ["channel", "dm"])
@pytest.mark.parametrize("message_id", [*OPERATOR_STRINGS, "0" * 24, "z" * 24, "x"])
def test_operator_message_ids_in_edit_and_delete_are_404_and_change_nothing(client_for, setup, target, message_id):
    from urllib.parse import quote

    alice, targets, _ = setup
    url, _, _ = targets[target]
    client = client_for(alice)
    before = _snapshot()
    path = f"{url}/{quote(message_id, safe='')}"

    assert client.patch(path, {"content": "changed"}, format="json").status_code == 404
    assert client.delete(path).status_code == 404
    assert _snapshot() == before


@pytest.mark.parametrize("target", ["channel", "dm"])
@pytest.mark.parametrize("param", ["before", "after", "limit"])
@pytest.mark.parametrize("value", OPERATOR_STRINGS)
def test_operator_strings_in_history_parameters_are_400(client_for, setup, target, param, value):
    alice, targets, _ = setup
    url, _, _ = targets[target]

    response = client_for(alice).get(url, {param: value})

    assert response.status_code == 400, response.content
    assert "original" not in response.content.decode()


@pytest.mark.parametrize("target", ["channel", "dm"])
def test_repeated_history_parameters_do_not_widen_a_query(client_for, setup, target):
    alice, targets, _ = setup
    url, _, _ = targets[target]

    response = client_for(alice).get(f"{url}?before=a&before=b&limit=1&limit=500")

    assert response.status_code == 400


@pytest.mark.parametrize("value", [*OPERATOR_STRINGS, "not-a-uuid", ",".join(["x"] * 3)])
def test_operator_strings_in_presence_ids_are_400(client_for, setup, value):
    alice, _, _ = setup

    response = client_for(alice).get("/api/v1/presence", {"user_ids": value})

    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("value", OPERATOR_VALUES, ids=repr)
@pytest.mark.parametrize("field", ["channel_id", "conversation_id", "content", "client_msg_id"])
async def test_operator_values_in_a_socket_send_get_an_error_frame_and_store_nothing(make_user, field, value):
    alice, targets, _ = await in_thread(_setup_sync, make_user)
    target = "dm" if field == "conversation_id" else "channel"
    frame = {"type": "message.send", **targets[target][2], "content": "hello", "client_msg_id": "c1"}
    frame[field] = value
    before = await in_thread(_snapshot)
    comm = communicator(headers=bearer(await in_thread(token_for, alice)))
    try:
        assert (await comm.connect(timeout=5))[0]
        assert (await next_frame(comm, within=5))["type"] == "hello"
        await comm.send_to(text_data=json.dumps(frame))
        answer = await next_frame(comm, within=5)
        if field == "client_msg_id" and value is None:
            assert answer["type"] == "message.ack"  # null means "no client_msg_id"
            return
        assert answer["type"] == "error", answer
        assert answer["error"]["code"] in {"invalid", "not_found"}, answer
        assert await in_thread(_snapshot) == before
        await comm.send_to(text_data=json.dumps({"type": "ping"}))
        assert (await next_frame(comm))["type"] == "pong"  # still open
    finally:
        await comm.disconnect()


def _setup_sync(make_user):
    from channels_app.services import channel_create
    from dms.services import dm_open

    alice, bob = make_user(f"a{uuid.uuid4().hex[:8]}"), make_user(f"b{uuid.uuid4().hex[:8]}")
    channel = channel_create(user=alice, name=f"inject-{uuid.uuid4().hex[:8]}")
    dm, _ = dm_open(user=alice, other_user_id=bob.id)
    targets = {
        "channel": (None, None, {"channel_id": str(channel.id)}),
        "dm": (None, None, {"conversation_id": str(dm.id)}),
    }
    return alice, targets, None


# --- Oversized input ---------------------------------------------------------------


def test_an_oversized_message_body_is_413_before_parsing(client_for, setup, settings):
    alice, targets, _ = setup
    url, _, _ = targets["channel"]
    before = _snapshot()
    raw = json.dumps({"content": "x" * (settings.MAX_REQUEST_BODY_BYTES + 1)})

    response = client_for(alice).generic("POST", url, raw, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert _snapshot() == before


@pytest.mark.django_db(transaction=True)
async def test_an_oversized_send_frame_gets_an_error_frame_and_stores_nothing(make_user, settings):
    alice, targets, _ = await in_thread(_setup_sync, make_user)
    frame = {"type": "message.send", **targets["channel"][2], "content": "x" * settings.WS_MAX_FRAME_BYTES}
    before = await in_thread(_snapshot)
    comm = communicator(headers=bearer(await in_thread(token_for, alice)))
    try:
        assert (await comm.connect(timeout=5))[0]
        assert (await next_frame(comm, within=5))["type"] == "hello"
        await comm.send_to(text_data=json.dumps(frame))
        answer = await next_frame(comm)
        assert answer["type"] == "error"
        assert answer["error"]["code"] == "payload_too_large", answer
        assert await in_thread(_snapshot) == before
    finally:
        await comm.disconnect()


# --- Rate limits -------------------------------------------------------------------


def test_a_burst_of_sends_is_throttled_per_user_with_retry_after(client_for, setup, make_user, monkeypatch):
    monkeypatch.setattr(WriteRateThrottle, "THROTTLE_RATES", {"write": "5/min"})
    alice, targets, _ = setup
    url, collection, _ = targets["channel"]
    client = client_for(alice)
    stored_before = get_db()[collection].count_documents({})

    statuses = [client.post(url, {"content": f"m{n}"}, format="json").status_code for n in range(8)]

    assert statuses == [201] * 5 + [429] * 3
    refused = client.post(url, {"content": "again"}, format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert get_db()[collection].count_documents({}) == stored_before + 5
    # per user: someone else still writes, and reads are never throttled
    assert client.get(url).status_code == 200
    bob = make_user("bob2")
    assert client_for(bob).post("/api/v1/channels", {"name": "bobs"}, format="json").status_code == 201


# --- Tokens never in logs -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_tokens_never_appear_in_logs(caplog, make_user):
    from rest_framework.test import APIClient

    caplog.set_level(logging.DEBUG)
    password = "correct horse battery staple"

    def rest_paths():
        client = APIClient()
        registered = client.post(
            "/api/v1/auth/register",
            {"email": "tok@example.com", "username": "tok", "password": password},
            format="json",
        ).json()["token"]
        login = client.post("/api/v1/auth/login", {"username": "tok", "password": password}, format="json")
        token = login.json()["token"]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        ticket = client.post("/api/v1/realtime/ticket").json()["ticket"]
        client.post("/api/v1/channels", {"name": "BAD NAME"}, format="json")  # a 400
        client.get(f"/api/v1/channels/{uuid.uuid4()}/messages")  # a 404
        return registered, token, ticket

    registered, token, ticket = await in_thread(rest_paths)
    for headers, path in [
        (bearer(token), "/ws/v1/"),
        ([(b"origin", b"http://127.0.0.1")], f"/ws/v1/?ticket={ticket}"),
        ([(b"origin", b"http://127.0.0.1")], f"/ws/v1/?ticket={ticket}"),  # reused: refused
        (bearer(token + "x"), "/ws/v1/"),  # bad token: refused
    ]:
        comm = communicator(headers=headers, path=path)
        try:
            await comm.connect(timeout=5)
            await comm.send_to(text_data="not json")
        except Exception:  # a refused socket is part of the scenario
            pass
        finally:
            await comm.disconnect()

    def logout():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert client.post("/api/v1/auth/logout").status_code == 204
        assert client.get("/api/v1/users/me").status_code == 401  # the revoked token

    await in_thread(logout)
    assert caplog.records  # something was logged
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for secret in (registered, token, ticket):
        assert secret not in text
