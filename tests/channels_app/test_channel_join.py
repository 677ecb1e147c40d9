import threading
import uuid

import pytest
from django.db import connection

from accounts.models import default_workspace_id
from channels_app.models import ChannelMember
from messaging.serializers import message_to_api
from slackclone import errors
from tests.helpers import capture_broadcasts


@pytest.fixture
def channel(make_user, make_channel):
    return make_channel(make_user("owner"), "general")


def test_join_answers_200_channel_and_makes_me_a_member(
    make_user, client_for, channel, system_messages, django_capture_on_commit_callbacks
):
    bob = make_user("bob")
    system_messages.clear()

    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        response = client_for(bob).post(f"/api/v1/channels/{channel['id']}/join")

    assert response.status_code == 200
    assert response.json() == {**channel, "member_count": 2, "is_member": True, "my_role": "member"}
    assert ChannelMember.objects.filter(channel_id=channel["id"], user=bob).exists()
    assert system_messages == [(channel["id"], "bob joined")]
    assert system_messages.actor_ids == [str(bob.pk)]
    joined = message_to_api(system_messages.documents[0])
    assert broadcasts.calls == [
        (
            "member_joined",
            {
                "channel_id": channel["id"],
                "user_id": str(bob.pk),
                "workspace_id": str(default_workspace_id()),
                "system_message": joined,
            },
        )
    ]


def test_joining_twice_is_harmless_and_posts_and_broadcasts_nothing_more(
    make_user, client_for, channel, system_messages, django_capture_on_commit_callbacks
):
    bob = make_user("bob")
    client = client_for(bob)
    client.post(f"/api/v1/channels/{channel['id']}/join")
    system_messages.clear()

    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/channels/{channel['id']}/join")

    assert response.status_code == 200
    assert response.json()["member_count"] == 2
    assert response.json()["is_member"] is True
    assert ChannelMember.objects.filter(channel_id=channel["id"]).count() == 2
    assert system_messages == []
    assert broadcasts.calls == []


def test_join_an_unknown_channel_is_404(make_user, client_for, system_messages):
    response = client_for(make_user()).post(f"/api/v1/channels/{uuid.uuid4()}/join")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert system_messages == []


def test_join_rolls_back_and_answers_503_when_the_message_store_is_down(
    make_user, client_for, channel, monkeypatch, django_capture_on_commit_callbacks
):
    import messaging.services

    def store_down(**kwargs):
        raise errors.StoreUnavailable("mongo")

    monkeypatch.setattr(messaging.services, "system_message_post", store_down)
    bob = make_user("bob")

    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        response = client_for(bob).post(f"/api/v1/channels/{channel['id']}/join")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_unavailable"
    assert response["Retry-After"]
    assert not ChannelMember.objects.filter(user=bob).exists()
    assert broadcasts.calls == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_of_the_same_user_make_one_membership_and_one_system_message(
    make_user, client_for, system_messages
):
    from channels_app.models import Channel

    channel = Channel.objects.create(name="general")
    bob = make_user("bob")
    clients = [client_for(bob) for _ in range(10)]
    barrier = threading.Barrier(len(clients))
    statuses = []

    def join(client):
        try:
            barrier.wait()
            statuses.append(client.post(f"/api/v1/channels/{channel.pk}/join").status_code)
        finally:
            connection.close()

    with capture_broadcasts() as broadcasts:
        threads = [threading.Thread(target=join, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert statuses == [200] * 10
    assert ChannelMember.objects.filter(channel=channel, user=bob).count() == 1
    assert system_messages == [(str(channel.pk), "bob joined")]
    assert broadcasts.names == ["member_joined"]
