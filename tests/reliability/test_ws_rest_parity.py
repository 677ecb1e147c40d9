"""Issue 12, kind 3: the WebSocket `message.send` is as strict as POST .../messages, and
never stricter. Every rule REST applies to a send (the table is in docs/reliability.md):

- authentication: REST 401; a socket without credentials is closed with 4401 at
  connect (tests/realtime/test_ws_auth.py);
- size: a body over MAX_REQUEST_BODY_BYTES is 413 `payload_too_large`; a frame over
  WS_MAX_FRAME_BYTES (the body's limit + 1 KiB for `type` and the id) likewise;
- shape: not a JSON object, unknown fields: 400 `invalid` / `malformed_json` (frames:
  tests/realtime/test_ws_frames.py; unknown fields: here);
- throttling: ONE budget per user (THROTTLE_WRITE) across both paths: 429 `throttled`
  with Retry-After and `retry_after`;
- validation: content (a string, 1-4000 characters after trimming, \\r\\n and a lone
  \\r normalised to \\n, no control characters but \\n and \\t), client_msg_id (1-64
  printable ASCII) and also_in_channel (a JSON boolean): 400 `invalid` naming the field;
- permission: an unknown or malformed channel 404, not a member 403 `not_a_member`,
  someone else's DM 404;
- state: an archived channel 409 `channel_archived`; another sender's client_msg_id
  409 `client_msg_id_conflict`;
- store: 503 `store_unavailable` (tests/messaging/test_mongo_unavailable.py, bench/chaos.py).

Each row below sends the same message both ways and checks both answers and that
nothing was stored where it was refused.
"""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from channels_app.models import Channel, ChannelMember
from dms.models import DmConversation
from messaging import services as message_services
from messaging.mongo import get_db
from slackclone.api.throttling import WriteRateThrottle
from tests.conftest import token_for
from tests.helpers import capture_broadcasts
from tests.realtime.support import bearer, communicator, in_thread, next_frame

pytestmark = pytest.mark.django_db(transaction=True)

EMOJI = "\U0001f600"


def _world(make_user) -> dict:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    mine = Channel.objects.create(name="mine", created_by=alice)
    ChannelMember.objects.create(channel=mine, user=alice)
    ChannelMember.objects.create(channel=mine, user=bob)
    theirs = Channel.objects.create(name="theirs", created_by=bob)
    ChannelMember.objects.create(channel=theirs, user=bob)
    frozen = Channel.objects.create(name="frozen", created_by=alice)
    ChannelMember.objects.create(channel=frozen, user=alice)
    Channel.objects.filter(pk=frozen.pk).update(archived_at="2026-01-01T00:00:00Z")
    pair = sorted([alice, bob], key=lambda user: user.pk)
    dm = DmConversation.objects.create(user1=pair[0], user2=pair[1])
    pair = sorted([bob, carol], key=lambda user: user.pk)
    others = DmConversation.objects.create(user1=pair[0], user2=pair[1])
    with capture_broadcasts():
        message_services.message_send(sender=bob, channel_id=mine.pk, content="bob's", client_msg_id="taken")
    return {
        "alice": alice,
        "token": token_for(alice),
        "targets": {
            "mine": ("channel_id", str(mine.pk)),
            "theirs": ("channel_id", str(theirs.pk)),
            "frozen": ("channel_id", str(frozen.pk)),
            "unknown": ("channel_id", str(uuid.uuid4())),
            "malformed": ("channel_id", "not-a-uuid"),
            "dm": ("conversation_id", str(dm.pk)),
            "others_dm": ("conversation_id", str(others.pk)),
        },
    }


def _stored() -> int:
    db = get_db()
    return db["channel_messages"].count_documents({}) + db["dm_messages"].count_documents({})


def _rest_send(token: str, field: str, target: str, body_text: str) -> tuple[int, dict]:
    base = "channels" if field == "channel_id" else "dms"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.generic("POST", f"/api/v1/{base}/{target}/messages", body_text, content_type="application/json")
    return response.status_code, response.json()


async def _ws_send(token: str, frame_text: str) -> dict:
    comm = communicator(headers=bearer(token))
    try:
        assert (await comm.connect(timeout=5))[0]
        assert (await next_frame(comm, within=5))["type"] == "hello"
        await comm.send_to(text_data=frame_text)
        return await next_frame(comm, within=5, skip=("presence.changed", "message.created"))
    finally:
        await comm.disconnect()


def _texts(field: str, target: str, body: dict) -> tuple[str, str]:
    """The REST body and the WebSocket frame of one send, encoded as json.dumps does by
    default (ASCII, \\uXXXX escapes): the frame is the body plus `type` and the id."""
    return json.dumps(body), json.dumps({"type": "message.send", field: target, **body})


# (name, target, body, REST status, error code or None, the field named in `fields`)
CASES = [
    ("a plain send", "mine", {"content": "hello"}, 201, None, None),
    ("a DM send", "dm", {"content": "hello"}, 201, None, None),
    ("4000 emoji, escaped", "mine", {"content": EMOJI * 4000, "client_msg_id": "~" * 64}, 201, None, None),
    ("4000 characters after trimming", "mine", {"content": "  " + "x" * 4000 + "\n\t "}, 201, None, None),
    ("no content", "mine", {"client_msg_id": "a"}, 400, "invalid", "content"),
    ("content not a string", "mine", {"content": 42}, 400, "invalid", "content"),
    ("content an operator", "mine", {"content": {"$gt": ""}}, 400, "invalid", "content"),
    ("content blank", "mine", {"content": " \n\t "}, 400, "invalid", "content"),
    ("content too long", "mine", {"content": "x" * 4001}, 400, "invalid", "content"),
    ("4001 emoji", "mine", {"content": EMOJI * 4001}, 400, "invalid", "content"),
    ("Windows line breaks, normalised", "mine", {"content": "a\tb\r\nc"}, 201, None, None),
    ("a lone carriage return, normalised", "mine", {"content": "a\rb"}, 201, None, None),
    ("a BEL", "mine", {"content": "a\x07b"}, 400, "invalid", "content"),
    ("a NUL", "mine", {"content": "a\x00b"}, 400, "invalid", "content"),
    ("a lone surrogate", "mine", {"content": "a\ud800b"}, 400, "invalid", "content"),
    ("client_msg_id too long", "mine", {"content": "x", "client_msg_id": "a" * 65}, 400, "invalid", "client_msg_id"),
    ("client_msg_id with a space", "mine", {"content": "x", "client_msg_id": "a b"}, 400, "invalid", "client_msg_id"),
    ("client_msg_id a number", "mine", {"content": "x", "client_msg_id": 7}, 400, "invalid", "client_msg_id"),
    ("an unknown field", "mine", {"content": "x", "zzz": "y"}, 400, "invalid", "zzz"),
    ("a reply to no root", "mine", {"content": "x", "thread_id": "y"}, 400, "invalid_thread", "thread_id"),
    ("also_in_channel null", "mine", {"content": "x", "also_in_channel": None}, 201, None, None),
    ("also_in_channel 'yes'", "mine", {"content": "x", "also_in_channel": "yes"}, 400, "invalid", "also_in_channel"),
    ("also_in_channel 'true'", "mine", {"content": "x", "also_in_channel": "true"}, 400, "invalid", "also_in_channel"),
    ("also_in_channel 1", "mine", {"content": "x", "also_in_channel": 1}, 400, "invalid", "also_in_channel"),
    ("an unknown channel", "unknown", {"content": "x"}, 404, "not_found", None),
    ("a malformed channel id", "malformed", {"content": "x"}, 404, "not_found", None),
    ("not a member", "theirs", {"content": "x"}, 403, "not_a_member", None),
    ("an archived channel", "frozen", {"content": "x"}, 409, "channel_archived", None),
    ("someone else's DM", "others_dm", {"content": "x"}, 404, "not_found", None),
    (
        "another sender's client_msg_id",
        "mine",
        {"content": "x", "client_msg_id": "taken"},
        409,
        "client_msg_id_conflict",
        None,
    ),
    ("file_ids null: no files", "mine", {"content": "x", "file_ids": None}, 201, None, None),
    ("file_ids not a list", "mine", {"content": "x", "file_ids": "f"}, 400, "invalid", "file_ids"),
    ("a body over the size limit", "mine", {"content": "x" * 70000}, 413, "payload_too_large", None),
]


@pytest.mark.parametrize(("name", "target", "body", "status", "code", "field"), CASES, ids=[c[0] for c in CASES])
async def test_message_send_applies_every_rule_of_the_rest_send(make_user, name, target, body, status, code, field):
    world = await in_thread(_world, make_user)
    id_field, target_id = world["targets"][target]
    body_text, frame_text = _texts(id_field, target_id, body)

    before = await in_thread(_stored)
    rest_status, rest_body = await in_thread(_rest_send, world["token"], id_field, target_id, body_text)
    after_rest = await in_thread(_stored)
    frame = await _ws_send(world["token"], frame_text)
    after_ws = await in_thread(_stored)

    assert rest_status == status, (rest_status, rest_body)
    if code is None:
        assert frame["type"] == "message.ack", frame
        assert frame["message"]["content"] == rest_body["content"]
        assert "\r" not in rest_body["content"]  # normalised to \n, over both paths
        if "client_msg_id" in body:  # the same client_msg_id: the socket's send is a retry of the REST one
            assert frame["message"]["id"] == rest_body["id"]
            assert (after_rest - before, after_ws - after_rest) == (1, 0)
        else:
            assert (after_rest - before, after_ws - after_rest) == (1, 1)
        return
    assert rest_body["error"]["code"] == code, rest_body
    assert frame["type"] == "error", frame
    assert frame["error"]["code"] == code, frame
    if field is not None:
        assert field in rest_body["error"]["fields"], rest_body
        assert field in frame["error"]["fields"], frame
    assert after_ws == after_rest == before


async def test_rest_writes_and_socket_sends_spend_one_budget(make_user, monkeypatch):
    monkeypatch.setattr(WriteRateThrottle, "THROTTLE_RATES", {"write": "3/min"})
    world = await in_thread(_world, make_user)
    field, target = world["targets"]["mine"]
    before = await in_thread(_stored)
    comm = communicator(headers=bearer(world["token"]))
    try:
        assert (await comm.connect(timeout=5))[0]
        assert (await next_frame(comm, within=5))["type"] == "hello"

        async def ws_send(n):
            await comm.send_json_to(
                {"type": "message.send", field: target, "content": f"ws {n}", "client_msg_id": f"w{n}"}
            )
            return await next_frame(comm, skip=("presence.changed", "message.created"))

        def rest_send(n):
            return _rest_send(world["token"], field, target, json.dumps({"content": f"rest {n}"}))

        assert (await in_thread(rest_send, 1))[0] == 201
        assert (await ws_send(1))["type"] == "message.ack"
        assert (await in_thread(rest_send, 2))[0] == 201
        # The budget (3) is spent, whichever path asks next.
        refused = await ws_send(2)
        status, body = await in_thread(rest_send, 3)
    finally:
        await comm.disconnect()

    assert refused["type"] == "error" and refused["client_msg_id"] == "w2"
    assert refused["error"]["code"] == "throttled"
    assert 1 <= refused["error"]["retry_after"] <= 60
    assert status == 429 and body["error"]["code"] == "throttled"
    assert 1 <= body["error"]["retry_after"] <= 60
    assert await in_thread(_stored) == before + 3


def test_concurrent_writes_of_one_user_never_overspend_the_budget(make_user, monkeypatch):
    """DRF's own throttle reads the history and writes it back: concurrent requests all
    passed. The budget is now spent atomically in Redis."""
    from tests.messaging.support import run_in_threads

    monkeypatch.setattr(WriteRateThrottle, "THROTTLE_RATES", {"write": "5/min"})
    world = _world(make_user)
    field, target = world["targets"]["mine"]
    for _round in range(3):  # a race is lost only some of the time
        member = make_user()
        ChannelMember.objects.create(channel_id=target, user=member)
        token = token_for(member)
        statuses = run_in_threads(
            20, lambda i, token=token: _rest_send(token, field, target, json.dumps({"content": f"burst {i}"}))[0]
        )
        assert sorted(statuses) == [201] * 5 + [429] * 15
