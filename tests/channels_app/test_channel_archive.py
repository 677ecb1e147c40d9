"""Archiving a channel: the service, what an archived channel refuses, the API field,
and the admin (action and object tool, both with a confirmation page)."""

import pytest
from django.test import Client
from django.urls import reverse

from channels_app.models import Channel, ChannelMember
from channels_app.services import channel_archive, channel_join, channel_leave
from messaging.services import message_delete, message_edit, message_send
from moderation.models import AuditLogEntry
from slackclone import errors
from tests.helpers import capture_broadcasts


@pytest.fixture
def general(alice):
    channel = Channel.objects.create(name="general", created_by=alice)
    ChannelMember.objects.create(channel=channel, user=alice)
    return channel


def test_archive_sets_archived_at_once_and_is_audited(general, staff):
    archived = channel_archive(channel=general, by=staff)

    general.refresh_from_db()
    assert general.archived_at is not None and archived.archived_at == general.archived_at
    entry = AuditLogEntry.objects.get()
    assert (entry.action, entry.target_type, entry.target_id, entry.actor_id) == (
        "channel_archive",
        "channel",
        str(general.pk),
        staff.pk,
    )
    assert entry.detail == {"name": "general"}

    first = general.archived_at
    channel_archive(channel=general, by=staff)
    general.refresh_from_db()
    assert general.archived_at == first
    assert AuditLogEntry.objects.count() == 1


def test_only_staff_may_archive(general, alice):
    with pytest.raises(errors.PermissionDenied):
        channel_archive(channel=general, by=alice)
    general.refresh_from_db()
    assert general.archived_at is None


def test_an_archived_channel_refuses_joins_leaves_posts_and_edits(general, alice, make_user, staff):
    with capture_broadcasts():
        message = message_send(sender=alice, channel_id=general.pk, content="before").message
    channel_archive(channel=general, by=staff)
    bob = make_user("bob")

    for attempt in (
        lambda: channel_join(user=bob, channel_id=general.pk),
        lambda: channel_leave(user=alice, channel_id=general.pk),
        lambda: message_send(sender=alice, channel_id=general.pk, content="after"),
        lambda: message_edit(user=alice, channel_id=general.pk, message_id=message.id, content="changed"),
    ):
        with pytest.raises(errors.Conflict) as refused:
            attempt()
        assert refused.value.code == "channel_archived"
    assert ChannelMember.objects.filter(channel=general).count() == 1


def test_an_archived_channel_stays_readable_and_its_messages_deletable(general, alice, staff, client_for):
    with capture_broadcasts():
        message = message_send(sender=alice, channel_id=general.pk, content="kept").message
    channel_archive(channel=general, by=staff)
    api = client_for(alice)

    history = api.get(f"/api/v1/channels/{general.pk}/messages")
    detail = api.get(f"/api/v1/channels/{general.pk}")

    assert history.status_code == 200
    assert [m["content"] for m in history.json()["results"]] == ["kept", f"{staff.username} archived the channel"]
    assert detail.json()["archived_at"].endswith("Z")
    with capture_broadcasts() as broadcasts:
        message_delete(user=alice, channel_id=general.pk, message_id=message.id)
    assert broadcasts.names == ["message_deleted"]


def test_the_api_answers_409_channel_archived(general, alice, make_user, staff, client_for):
    channel_archive(channel=general, by=staff)
    bob = make_user("bob")

    responses = [
        client_for(bob).post(f"/api/v1/channels/{general.pk}/join"),
        client_for(alice).post(f"/api/v1/channels/{general.pk}/leave"),
        client_for(alice).post(f"/api/v1/channels/{general.pk}/messages", {"content": "hi"}, format="json"),
    ]

    for response in responses:
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "channel_archived"


def test_a_live_channel_shows_archived_at_null(general, alice, client_for):
    assert client_for(alice).get(f"/api/v1/channels/{general.pk}").json()["archived_at"] is None


def test_the_admin_action_asks_then_archives(staff_client, general, staff):
    changelist = reverse("admin:channels_app_channel_changelist")
    selection = {"action": "archive_selected", "_selected_action": [str(general.pk)]}

    confirm = staff_client.post(changelist, selection)

    assert confirm.status_code == 200
    assert b"Archive channels?" in confirm.content and b"#general" in confirm.content
    assert b'name="post" value="yes"' in confirm.content
    general.refresh_from_db()
    assert general.archived_at is None

    done = staff_client.post(changelist, {**selection, "post": "yes"}, follow=True)

    general.refresh_from_db()
    assert general.archived_at is not None
    assert b"Archived 1 channel." in done.content
    assert AuditLogEntry.objects.filter(action="channel_archive").count() == 1
    archived = staff_client.get(changelist, {"archived_at__isempty": "0"})
    assert [c.pk for c in archived.context["cl"].result_list] == [general.pk]
    live = staff_client.get(changelist, {"archived_at__isempty": "1"})
    assert list(live.context["cl"].result_list) == []


def test_the_change_page_links_to_an_archive_confirmation_page(staff_client, general):
    archive_url = reverse("admin:channels_app_channel_archive", args=[general.pk])

    change = staff_client.get(reverse("admin:channels_app_channel_change", args=[general.pk]))
    confirm = staff_client.get(archive_url)

    assert archive_url.encode() in change.content
    assert confirm.status_code == 200 and b"Yes, archive" in confirm.content
    general.refresh_from_db()
    assert general.archived_at is None

    done = staff_client.post(archive_url, {"post": "yes"})

    assert done.status_code == 302
    general.refresh_from_db()
    assert general.archived_at is not None
    after = staff_client.get(reverse("admin:channels_app_channel_change", args=[general.pk]))
    assert archive_url.encode() not in after.content


def test_non_staff_cannot_reach_the_archive_page(general, alice):
    client = Client()
    client.force_login(alice)

    response = client.post(reverse("admin:channels_app_channel_archive", args=[general.pk]), {"post": "yes"})

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    general.refresh_from_db()
    assert general.archived_at is None


def test_the_harmless_no_ops_stay_harmless_in_an_archived_channel(general, alice, make_user, staff, client_for):
    """Contract (Channels): "joining twice is harmless", "leaving when not a member is
    harmless"; the same for removing a non-member, setting the role a member has and
    adding people who are all in it already.
    Nothing changes and nothing is posted, so an archive is no reason to refuse them."""
    bob = make_user("bob")
    ChannelMember.objects.filter(channel=general, user=alice).update(role=ChannelMember.Role.MANAGER)
    channel_archive(channel=general, by=staff)
    alice_api, bob_api = client_for(alice), client_for(bob)
    path = f"/api/v1/channels/{general.pk}"

    with capture_broadcasts() as broadcasts:
        rejoin = alice_api.post(f"{path}/join")
        outsider_leaves = bob_api.post(f"{path}/leave")
        remove_outsider = alice_api.delete(f"{path}/members/{bob.pk}")
        same_role = alice_api.patch(f"{path}/members/{alice.pk}", {"role": "manager"}, format="json")
        other_role = alice_api.patch(f"{path}/members/{alice.pk}", {"role": "member"}, format="json")
        add_a_member = alice_api.post(f"{path}/members", {"user_ids": [str(alice.pk)]}, format="json")
        add_bob = alice_api.post(f"{path}/members", {"user_ids": [str(alice.pk), str(bob.pk)]}, format="json")

    assert rejoin.status_code == 200 and rejoin.json()["is_member"] is True
    assert outsider_leaves.status_code == 204
    assert remove_outsider.status_code == 204
    assert same_role.status_code == 200 and same_role.json()["role"] == "manager"
    assert (other_role.status_code, other_role.json()["error"]["code"]) == (409, "channel_archived")
    assert (add_a_member.status_code, add_a_member.json()) == (200, {"added": []})
    assert (add_bob.status_code, add_bob.json()["error"]["code"]) == (409, "channel_archived")
    assert broadcasts.calls == []
    assert [m["content"] for m in alice_api.get(f"{path}/messages").json()["results"]] == [
        f"{staff.username} archived the channel"
    ]


def test_staff_archiving_from_the_admin_posts_and_announces_as_a_manager_does(
    general, alice, staff, django_capture_on_commit_callbacks
):
    """Contract (private channels and management): every change posts a SYSTEM message
    and members hear channel.updated; the admin's archive did neither, so members' clients
    showed a live channel until a send failed with 409."""
    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        channel_archive(channel=general, by=staff)

    [updated] = broadcasts.of("channel_updated")
    assert updated["channel"]["id"] == str(general.pk) and updated["channel"]["archived_at"] is not None
    assert updated["channel"]["is_member"] is True and updated["channel"]["my_role"] is None
    [posted] = [call["message"] for call in broadcasts.of("message_created")]
    assert (posted["type"], posted["content"]) == ("SYSTEM", f"{staff.username} archived the channel")
