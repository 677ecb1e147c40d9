"""Only members read and post: a channel answers 403 to non-members and 404 when
unknown; a DM answers 404 to anyone but its two users. Checked on every call."""

import uuid

import pytest

from messaging import selectors, services
from messaging.mongo import get_db
from slackclone import errors


@pytest.fixture
def outsider(make_user):
    return make_user("mallory")


def test_a_non_member_cannot_read_a_channel(client_for, outsider, channel):
    response = client_for(outsider).get(f"/api/v1/channels/{channel.pk}/messages")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_a_member"


def test_a_non_member_cannot_post_in_a_channel(client_for, outsider, channel):
    response = client_for(outsider).post(f"/api/v1/channels/{channel.pk}/messages", {"content": "x"}, format="json")

    assert response.status_code == 403
    assert get_db()["channel_messages"].count_documents({}) == 0


def test_a_non_member_cannot_edit_or_delete_in_a_channel(client_for, alice, outsider, channel):
    message = services.message_send(sender=alice, channel_id=channel.pk, content="x").message
    client = client_for(outsider)
    url = f"/api/v1/channels/{channel.pk}/messages/{message.id}"

    assert client.patch(url, {"content": "y"}, format="json").status_code == 403
    assert client.delete(url).status_code == 403


def test_an_unknown_channel_is_404(client_for, alice):
    url = f"/api/v1/channels/{uuid.uuid4()}/messages"
    client = client_for(alice)

    assert client.get(url).status_code == 404
    assert client.post(url, {"content": "x"}, format="json").status_code == 404


def test_an_outsider_gets_404_on_a_dm(client_for, alice, outsider, dm):
    message = services.message_send(sender=alice, conversation_id=dm.pk, content="secret").message
    client = client_for(outsider)
    base = f"/api/v1/dms/{dm.pk}/messages"

    assert client.get(base).status_code == 404
    assert client.post(base, {"content": "x"}, format="json").status_code == 404
    assert client.patch(f"{base}/{message.id}", {"content": "y"}, format="json").status_code == 404
    assert client.delete(f"{base}/{message.id}").status_code == 404
    assert get_db()["dm_messages"].count_documents({}) == 1


def test_an_unknown_dm_is_404(client_for, alice):
    assert client_for(alice).get(f"/api/v1/dms/{uuid.uuid4()}/messages").status_code == 404


def test_membership_is_checked_on_every_call(alice, bob, channel):
    services.message_send(sender=bob, channel_id=channel.pk, content="x")
    channel.memberships.filter(user=bob).delete()

    with pytest.raises(errors.PermissionDenied):
        selectors.message_history(user=bob, channel_id=channel.pk)
    with pytest.raises(errors.PermissionDenied):
        services.message_send(sender=bob, channel_id=channel.pk, content="y")


def test_both_users_of_a_dm_read_and_post(client_for, alice, bob, dm):
    url = f"/api/v1/dms/{dm.pk}/messages"
    client_for(alice).post(url, {"content": "hi bob"}, format="json")
    client_for(bob).post(url, {"content": "hi alice"}, format="json")

    for user in (alice, bob):
        contents = [m["content"] for m in client_for(user).get(url).json()["results"]]
        assert contents == ["hi bob", "hi alice"]


def test_unauthenticated_history_is_401(anon, channel):
    assert anon.get(f"/api/v1/channels/{channel.pk}/messages").status_code == 401


def test_paths_have_no_trailing_slash(client_for, alice, channel):
    assert client_for(alice).get(f"/api/v1/channels/{channel.pk}/messages/").status_code == 404
