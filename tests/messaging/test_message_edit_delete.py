"""PATCH and DELETE .../messages/{message_id}, and the services behind them."""

import pytest

from messaging import services
from messaging.mongo import get_db
from tests.helpers import capture_broadcasts


@pytest.fixture
def message(alice, where):
    return services.message_send(sender=alice, **where.kwargs, content="original").message


def _url(where, message_id):
    return f"{where.url}/{message_id}"


# --- edit ----------------------------------------------------------------------


def test_the_author_edits_a_message(client_for, alice, where, message):
    with capture_broadcasts() as captured:
        response = client_for(alice).patch(_url(where, message.id), {"content": "  fixed "}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["content"] == "fixed"
    assert body["id"] == message.id
    assert body["seq"] == message.seq
    assert body["edited_at"] is not None
    assert body["edited_at"] >= body["created_at"]
    assert captured.names == ["message_updated"]
    assert captured.of("message_updated") == [{"message": body}]
    history = client_for(alice).get(where.url).json()["results"]
    assert history == [body]


def test_someone_else_cannot_edit_a_message(client_for, bob, where, message):
    with capture_broadcasts() as captured:
        response = client_for(bob).patch(_url(where, message.id), {"content": "hacked"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_author"
    assert get_db()[_collection(where)].find_one({"content": "original"}) is not None
    assert captured.calls == []


def test_staff_cannot_edit_someone_elses_message(client_for, make_user, where, message, channel, dm):
    admin = make_user(is_staff=True)
    channel.memberships.create(user=admin)

    if where.kind == "channel":
        response = client_for(admin).patch(_url(where, message.id), {"content": "x"}, format="json")
        assert response.status_code == 403
    else:  # not one of the two: the DM does not exist for them
        response = client_for(admin).patch(_url(where, message.id), {"content": "x"}, format="json")
        assert response.status_code == 404


def test_system_messages_cannot_be_edited(client_for, alice, channel):
    system = services.system_message_post(channel_id=channel.pk, content="alice joined", actor_id=alice.pk)

    response = client_for(alice).patch(
        f"/api/v1/channels/{channel.pk}/messages/{system.id}", {"content": "x"}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "system_message_immutable"


@pytest.mark.parametrize(
    "body", [{}, {"content": ""}, {"content": {"$set": {"senderId": "x"}}}, {"content": "x", "type": "SYSTEM"}]
)
def test_bad_edit_bodies_are_400_and_change_nothing(client_for, alice, where, message, body):
    response = client_for(alice).patch(_url(where, message.id), body, format="json")

    assert response.status_code == 400
    doc = get_db()[_collection(where)].find_one({})
    assert doc["content"] == "original"
    assert doc["editedAt"] is None


def test_editing_a_deleted_message_is_404(client_for, alice, where, message):
    services.message_delete(user=alice, message_id=message.id, **where.kwargs)

    response = client_for(alice).patch(_url(where, message.id), {"content": "x"}, format="json")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "message_id", ["0" * 24, "nope", "zzzzzzzzzzzzzzzzzzzzzzzz", "a" * 25, "%24where", "%7B%22%24ne%22%3A1%7D"]
)
def test_unknown_or_malformed_message_ids_are_404(client_for, alice, where, message, message_id):
    client = client_for(alice)

    assert client.patch(_url(where, message_id), {"content": "x"}, format="json").status_code == 404
    assert client.delete(_url(where, message_id)).status_code == 404


def test_a_message_id_is_only_found_in_its_own_conversation(client_for, alice, where, message, make_channel):
    other = make_channel(alice)

    response = client_for(alice).delete(f"/api/v1/channels/{other.pk}/messages/{message.id}")

    assert response.status_code == 404


def test_an_upper_case_message_id_names_the_same_message(client_for, alice, where, message):
    response = client_for(alice).patch(_url(where, message.id.upper()), {"content": "x"}, format="json")

    assert response.status_code == 200


# --- delete --------------------------------------------------------------------


def test_the_author_deletes_a_message(client_for, alice, where, message):
    with capture_broadcasts() as captured:
        response = client_for(alice).delete(_url(where, message.id))

    assert response.status_code == 204
    assert captured.names == ["message_deleted"]
    assert captured.of("message_deleted") == [{"message_id": message.id, where.api_field: where.pk}]
    assert client_for(alice).get(where.url).json()["results"] == []
    doc = get_db()[_collection(where)].find_one({})
    assert doc["deletedAt"] is not None
    assert doc["deletedBy"] == str(alice.pk)


def test_deleting_twice_is_404(client_for, alice, where, message):
    client = client_for(alice)
    client.delete(_url(where, message.id))

    with capture_broadcasts() as captured:
        response = client.delete(_url(where, message.id))

    assert response.status_code == 404
    assert captured.calls == []


def test_another_member_cannot_delete_a_message(client_for, bob, where, message):
    response = client_for(bob).delete(_url(where, message.id))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_author"
    assert get_db()[_collection(where)].find_one({})["deletedAt"] is None


def test_staff_member_deletes_someone_elses_message(client_for, make_user, alice, channel):
    admin = make_user(is_staff=True)
    channel.memberships.create(user=admin)
    message = services.message_send(sender=alice, channel_id=channel.pk, content="spam").message

    response = client_for(admin).delete(f"/api/v1/channels/{channel.pk}/messages/{message.id}")

    assert response.status_code == 204
    assert get_db()["channel_messages"].find_one({})["deletedBy"] == str(admin.pk)


def test_system_messages_are_deleted_only_by_staff(client_for, make_user, alice, channel):
    system = services.system_message_post(channel_id=channel.pk, content="alice joined", actor_id=alice.pk)
    admin = make_user(is_staff=True)
    channel.memberships.create(user=admin)
    url = f"/api/v1/channels/{channel.pk}/messages/{system.id}"

    refused = client_for(alice).delete(url)
    accepted = client_for(admin).delete(url)

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "system_message_immutable"
    assert accepted.status_code == 204


def test_a_retry_of_a_deleted_message_does_not_store_it_again(alice, where):
    first = services.message_send(sender=alice, **where.kwargs, content="x", client_msg_id="k").message
    services.message_delete(user=alice, message_id=first.id, **where.kwargs)

    again = services.message_send(sender=alice, **where.kwargs, content="x", client_msg_id="k")

    assert again.created is False
    assert again.message.id == first.id
    assert get_db()[_collection(where)].count_documents({}) == 1


def _collection(where):
    return "channel_messages" if where.kind == "channel" else "dm_messages"


def test_a_retry_of_a_deleted_message_answers_it_deleted_without_its_content(alice, where, client_for):
    """REST and the WebSocket's ack answer a send through sent_message_to_api: a retry of
    a message deleted since answers 200 with the tombstone, never the deleted text."""
    client = client_for(alice)
    first = client.post(where.url, {"content": "secret", "client_msg_id": "k"}, format="json").json()
    assert client.put(f"{where.url}/{first['id']}/pin").status_code == 200
    assert client.delete(f"{where.url}/{first['id']}").status_code == 204

    again = client.post(where.url, {"content": "secret", "client_msg_id": "k"}, format="json")

    assert again.status_code == 200
    body = again.json()
    assert body["id"] == first["id"] and body["deleted"] is True
    assert body["content"] == "" and body["files"] == [] and body["reactions"] == []
    assert body["pinned_at"] is None and body["pinned_by"] is None  # a deleted message is no pin
