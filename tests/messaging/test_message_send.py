"""POST .../messages and services.message_send, against the real stores."""

import re
from datetime import timedelta

import pytest

from messaging import services
from messaging.models import MessageSequence
from messaging.mongo import get_db
from messaging.repositories import repository_for
from slackclone import errors
from tests.helpers import capture_broadcasts

ISO_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def _stored(where):
    collection = "channel_messages" if where.kind == "channel" else "dm_messages"
    field = "channelId" if where.kind == "channel" else "conversationId"
    return list(get_db()[collection].find({field: where.pk}).sort("seq", 1))


def test_send_answers_201_with_the_message_in_the_api_shape(client_for, alice, where):
    response = client_for(alice).post(where.url, {"content": "  hello  ", "client_msg_id": "m-1"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        where.api_field,
        "seq",
        "sender_id",
        "content",
        "type",
        "created_at",
        "edited_at",
        "client_msg_id",
        "files",  # issue 20: [] without file_ids
        # issue 17
        *("thread_id", "also_in_channel", "reply_count", "reply_users", "last_reply_at", "deleted"),
        *("reactions", "mentions", "mentions_channel", "pinned_at", "pinned_by"),
    }
    assert body[where.api_field] == where.pk
    assert body["seq"] == 1
    assert body["sender_id"] == str(alice.pk)
    assert body["content"] == "hello"
    assert body["type"] == "TEXT"
    assert body["edited_at"] is None
    assert body["client_msg_id"] == "m-1"
    assert len(body["id"]) == 24
    assert re.match(ISO_MS, body["created_at"])


def test_send_stores_the_trimmed_document_with_the_data_model_field_names(client_for, alice, where):
    body = client_for(alice).post(where.url, {"content": " hi\n"}, format="json").json()

    [doc] = _stored(where)
    assert str(doc["_id"]) == body["id"]
    assert doc["content"] == "hi"
    assert doc["senderId"] == str(alice.pk)
    assert doc["type"] == "TEXT"
    assert doc["seq"] == 1
    assert doc["editedAt"] is None
    assert doc["deletedAt"] is None
    assert doc["clientMsgId"] is None
    assert doc["dedupeKey"] == f"s:{body['id']}"
    assert doc["createdAt"].microsecond % 1000 == 0


def test_seq_counts_up_from_one_per_conversation(client_for, alice, bob, where, make_channel):
    other = make_channel(alice)
    seqs = [client_for(alice).post(where.url, {"content": f"m{i}"}, format="json").json()["seq"] for i in range(3)]
    other_seq = services.message_send(sender=alice, channel_id=other.pk, content="x").message.seq

    assert seqs == [1, 2, 3]
    assert other_seq == 1


def test_a_retry_with_the_same_client_msg_id_answers_200_with_the_original_and_stores_nothing(client_for, alice, where):
    client = client_for(alice)
    first = client.post(where.url, {"content": "once", "client_msg_id": "abc"}, format="json")
    retry = client.post(where.url, {"content": "once", "client_msg_id": "abc"}, format="json")

    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert len(_stored(where)) == 1
    assert client.post(where.url, {"content": "next"}, format="json").json()["seq"] == 2


def test_the_same_client_msg_id_in_another_conversation_is_a_new_message(client_for, alice, channel, dm):
    client = client_for(alice)
    a = client.post(f"/api/v1/channels/{channel.pk}/messages", {"content": "x", "client_msg_id": "k"}, format="json")
    b = client.post(f"/api/v1/dms/{dm.pk}/messages", {"content": "x", "client_msg_id": "k"}, format="json")

    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


def test_a_client_msg_id_already_used_by_another_sender_is_a_409(client_for, alice, bob, where):
    client_for(alice).post(where.url, {"content": "mine", "client_msg_id": "1"}, format="json")

    response = client_for(bob).post(where.url, {"content": "his", "client_msg_id": "1"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "client_msg_id_conflict"
    assert len(_stored(where)) == 1


def test_send_broadcasts_one_message_created_with_the_api_payload(client_for, alice, where):
    with capture_broadcasts() as captured:
        body = client_for(alice).post(where.url, {"content": "hi", "client_msg_id": "b1"}, format="json").json()

    # (issue 18: a DM message also notifies the other user: user_events, not a conversation broadcast)
    assert [name for name in captured.names if name != "user_events"] == ["message_created"]
    assert captured.of("message_created") == [{"message": body}]


def test_an_idempotent_retry_broadcasts_nothing(client_for, alice, where):
    client = client_for(alice)
    client.post(where.url, {"content": "hi", "client_msg_id": "b1"}, format="json")

    with capture_broadcasts() as captured:
        client.post(where.url, {"content": "hi", "client_msg_id": "b1"}, format="json")

    assert captured.calls == []


def test_message_send_service_takes_raw_values_and_reports_created(alice, where):
    result = services.message_send(sender=alice, **where.kwargs, content=" raw ", client_msg_id="r")
    again = services.message_send(sender=alice, **where.kwargs, content=" raw ", client_msg_id="r")

    assert result.created is True
    assert result.message.content == "raw"
    assert again.created is False
    assert again.message == result.message


def test_seq_resyncs_when_the_counter_is_behind_mongodb(alice, where):
    for i in range(3):
        services.message_send(sender=alice, **where.kwargs, content=f"m{i}")
    MessageSequence.objects.filter(conversation_id=where.pk).update(last_seq=0, last_created_at=None)

    with capture_broadcasts() as captured:
        result = services.message_send(sender=alice, **where.kwargs, content="after restore")

    assert result.created is True
    assert result.message.seq == 4
    assert MessageSequence.objects.get(conversation_id=where.pk).last_seq == 4
    assert [doc["seq"] for doc in _stored(where)] == [1, 2, 3, 4]
    assert len(captured.of("message_created")) == 1


def test_seq_resync_keeps_created_at_from_going_back(alice, where):
    first = services.message_send(sender=alice, **where.kwargs, content="a").message
    MessageSequence.objects.filter(conversation_id=where.pk).delete()

    second = services.message_send(sender=alice, **where.kwargs, content="b").message

    assert second.seq == 2
    assert second.created_at >= first.created_at


def test_created_at_never_goes_back_even_if_this_clock_is_behind(alice, where):
    first = services.message_send(sender=alice, **where.kwargs, content="a").message
    MessageSequence.objects.filter(conversation_id=where.pk).update(
        last_created_at=first.created_at + timedelta(minutes=5)
    )

    second = services.message_send(sender=alice, **where.kwargs, content="b").message

    assert second.created_at == first.created_at + timedelta(minutes=5)


# --- bad input: a 400 envelope, nothing stored, nothing broadcast -----------------


BAD_BODIES = [
    pytest.param({}, "content", id="missing-content"),
    pytest.param({"content": ""}, "content", id="empty"),
    pytest.param({"content": " \n\t "}, "content", id="whitespace-only"),
    pytest.param({"content": "x" * 4001}, "content", id="too-long"),
    pytest.param({"content": 123}, "content", id="number"),
    pytest.param({"content": None}, "content", id="null"),
    pytest.param({"content": ["a"]}, "content", id="list"),
    pytest.param({"content": "a\x00b"}, "content", id="nul"),
    pytest.param({"content": "a\x1bb"}, "content", id="escape"),
    pytest.param({"content": "a\x07b"}, "content", id="bell"),
    pytest.param({"content": {"$gt": ""}}, "content", id="operator-content"),
    pytest.param({"content": "x", "client_msg_id": ""}, "client_msg_id", id="empty-client-id"),
    pytest.param({"content": "x", "client_msg_id": "x" * 65}, "client_msg_id", id="long-client-id"),
    pytest.param({"content": "x", "client_msg_id": "has space"}, "client_msg_id", id="space-client-id"),
    pytest.param({"content": "x", "client_msg_id": 7}, "client_msg_id", id="number-client-id"),
    pytest.param({"content": "x", "client_msg_id": {"$ne": None}}, "client_msg_id", id="operator-client-id"),
    pytest.param({"content": "x", "$where": "1 == 1"}, "$where", id="where-key"),
    pytest.param({"content": "x", "senderId": "someone"}, "senderId", id="model-field"),
    pytest.param({"content": "x", "content.x": "y"}, "content.x", id="dotted-key"),
    pytest.param({"content": "x", "seq": 1}, "seq", id="seq"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_bodies_are_refused_with_a_400_envelope_and_nothing_stored(client_for, alice, where, body, field):
    with capture_broadcasts() as captured:
        response = client_for(alice).post(where.url, body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert _stored(where) == []
    assert captured.calls == []


@pytest.mark.parametrize("body", [[{"content": "x"}], "content", 5, None])
def test_a_body_that_is_not_an_object_is_refused(client_for, alice, where, body):
    response = client_for(alice).post(where.url, body, format="json")

    assert response.status_code == 400
    assert _stored(where) == []


def test_malformed_json_is_refused(client_for, alice, where):
    response = client_for(alice).post(where.url, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_the_service_refuses_operator_values_too(alice, where):
    with pytest.raises(errors.ValidationFailed):
        services.message_send(sender=alice, **where.kwargs, content={"$gt": ""})
    with pytest.raises(errors.ValidationFailed):
        services.message_send(sender=alice, **where.kwargs, content="x", client_msg_id={"$ne": None})
    assert _stored(where) == []


def test_the_service_needs_exactly_one_conversation(alice, channel, dm):
    with pytest.raises(errors.ValidationFailed):
        services.message_send(sender=alice, content="x")
    with pytest.raises(errors.ValidationFailed):
        services.message_send(sender=alice, channel_id=channel.pk, conversation_id=dm.pk, content="x")


def test_the_service_treats_a_malformed_conversation_id_as_not_found(alice):
    with pytest.raises(errors.NotFound):
        services.message_send(sender=alice, channel_id="not-a-uuid", content="x")
    with pytest.raises(errors.NotFound):
        services.message_send(sender=alice, conversation_id="../../etc", content="x")
    with pytest.raises(errors.ValidationFailed):
        services.message_send(sender=alice, channel_id={"$ne": None}, content="x")


def test_unauthenticated_send_is_401(anon, where):
    response = anon.post(where.url, {"content": "x"}, format="json")

    assert response.status_code == 401
    assert _stored(where) == []


def test_a_retry_is_caught_by_the_unique_index_and_consumes_no_seq(alice, where, monkeypatch):
    """No lookup before the insert: the retry's insert hits the (conversation,
    dedupeKey) index, one lookup finds the original, the increment is rolled back."""
    first = services.message_send(sender=alice, **where.kwargs, content="x", client_msg_id="k").message
    repo = repository_for(where.conversation.kind)
    real = repo.find_by_dedupe_key
    calls = []

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(repo, "find_by_dedupe_key", counting)
    with capture_broadcasts() as captured:
        result = services.message_send(sender=alice, **where.kwargs, content="x", client_msg_id="k")
        fresh = services.message_send(sender=alice, **where.kwargs, content="y", client_msg_id="other")

    assert len(calls) == 1  # only for the retry, after its insert failed
    assert result.created is False
    assert result.message == first
    assert fresh.created is True
    assert fresh.message.seq == 2  # the retry consumed no seq
    assert [(name, kw["message"]["id"]) for name, kw in captured.calls if name != "user_events"] == [
        ("message_created", fresh.message.id)
    ]
    assert len(_stored(where)) == 2
