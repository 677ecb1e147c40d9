"""Channel management (issue 16): managers and workspace admins rename, describe, set the
topic, set roles, remove members, archive, unarchive; admins delete. Each posts its
SYSTEM message and sends its event; plain members get 403."""

import pytest

from channels_app.models import Channel, ChannelMember
from moderation.models import AuditLogEntry
from tests.helpers import capture_broadcasts


@pytest.fixture
def people(make_user):
    return {
        "alice": make_user("alice"),
        "bob": make_user("bob"),
        "carol": make_user("carol"),
        "admin": make_user("wsadmin", role="admin"),
    }


@pytest.fixture
def chan(people, client_for):
    body = client_for(people["alice"]).post("/api/v1/channels", {"name": "ops"}, format="json").json()
    for who in ("bob", "carol"):
        client_for(people[who]).post(f"/api/v1/channels/{body['id']}/join")
    return body


MANAGER_CALLS = [
    ("patch", "", {"topic": "deploys"}),
    ("patch", "", {"name": "ops2"}),
    ("delete", "/members/{carol}", None),
    ("patch", "/members/{carol}", {"role": "manager"}),
    ("post", "/archive", None),
    ("post", "/unarchive", None),
]


@pytest.mark.parametrize(("method", "suffix", "body"), MANAGER_CALLS)
def test_plain_members_get_403_not_a_manager(people, client_for, chan, method, suffix, body):
    url = f"/api/v1/channels/{chan['id']}" + suffix.format(carol=people["carol"].pk)
    response = getattr(client_for(people["bob"]), method)(url, body, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_a_manager"


@pytest.mark.parametrize("who", ["alice", "admin"])
@pytest.mark.parametrize(("method", "suffix", "body"), MANAGER_CALLS)
def test_managers_and_workspace_admins_may(people, client_for, chan, method, suffix, body, who):
    url = f"/api/v1/channels/{chan['id']}" + suffix.format(carol=people["carol"].pk)
    response = getattr(client_for(people[who]), method)(url, body, format="json")
    assert response.status_code in (200, 204), response.content


def test_topic_rename_and_description_post_system_messages_and_send_channel_updated(
    people, client_for, chan, system_messages, django_capture_on_commit_callbacks
):
    system_messages.clear()
    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        response = client_for(people["alice"]).patch(
            f"/api/v1/channels/{chan['id']}",
            {"name": "incidents", "topic": "Pager duty", "description": "Fires"},
            format="json",
        )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["topic"], body["description"], body["my_role"]) == (
        "incidents",
        "Pager duty",
        "Fires",
        "manager",
    )
    assert system_messages == [
        (chan["id"], "alice renamed the channel to #incidents"),
        (chan["id"], "alice set the description: Fires"),
        (chan["id"], "alice set the topic: Pager duty"),
    ]
    [updated] = broadcasts.of("channel_updated")
    assert updated["channel"]["topic"] == "Pager duty" and updated["channel"]["my_role"] is None
    # Changing nothing posts nothing and announces nothing.
    system_messages.clear()
    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        client_for(people["alice"]).patch(f"/api/v1/channels/{chan['id']}", {"topic": "Pager duty"}, format="json")
    assert system_messages == [] and broadcasts.calls == []
    # Emptying a field says so ("set the topic:" with nothing after it read as a glitch).
    client_for(people["alice"]).patch(f"/api/v1/channels/{chan['id']}", {"topic": "", "description": ""}, format="json")
    assert system_messages == [
        (chan["id"], "alice cleared the description"),
        (chan["id"], "alice cleared the topic"),
    ]


@pytest.mark.parametrize(("method", "suffix", "body"), [("patch", "", {"topic": "x"}), ("post", "/archive", None)])
def test_channel_updated_says_is_member_true_to_its_members_whoever_changed_it(
    people, client_for, chan, django_capture_on_commit_callbacks, method, suffix, body
):
    """channel.updated goes to the channel's members only, so its `is_member` is true for
    every recipient; it was the actor's view, false when a workspace admin who is not in
    the channel made the change (a client updating its copy would think it had left)."""
    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        response = getattr(client_for(people["admin"]), method)(
            f"/api/v1/channels/{chan['id']}{suffix}", body, format="json"
        )

    assert response.status_code == 200 and response.json()["is_member"] is False  # the admin's own view
    [updated] = broadcasts.of("channel_updated")
    assert updated["channel"]["is_member"] is True and updated["channel"]["my_role"] is None
    assert updated["channel"]["member_count"] == 3


def test_a_role_change_answered_after_a_racing_removal_is_404_not_500(people, client_for, chan, monkeypatch):
    """The role change commits, then a removal commits before the answer is read: the
    answer is 404 `not_a_member`, not a 500 from the membership that is gone."""
    from channels_app import services_manage

    real = services_manage.channel_member_role_set

    def then_removed(**kwargs):
        membership = real(**kwargs)
        ChannelMember.objects.filter(channel_id=chan["id"], user=people["carol"]).delete()
        return membership

    monkeypatch.setattr(services_manage, "channel_member_role_set", then_removed)
    api = client_for(people["alice"])
    api.raise_request_exception = False
    path = f"/api/v1/channels/{chan['id']}/members/{people['carol'].pk}"

    response = api.patch(path, {"role": "manager"}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_a_member")


def test_topic_is_at_most_250_characters(people, client_for, chan):
    response = client_for(people["alice"]).patch(f"/api/v1/channels/{chan['id']}", {"topic": "x" * 251}, format="json")
    assert response.status_code == 400
    assert "topic" in response.json()["error"]["fields"]


def test_role_change_posts_and_sends_member_role_changed(
    people, client_for, chan, system_messages, django_capture_on_commit_callbacks
):
    carol = people["carol"]
    system_messages.clear()
    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        response = client_for(people["alice"]).patch(
            f"/api/v1/channels/{chan['id']}/members/{carol.pk}", {"role": "manager"}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["role"] == "manager" and response.json()["user"]["id"] == str(carol.pk)
    assert system_messages == [(chan["id"], "alice made carol a manager")]
    assert broadcasts.of("member_role_changed") == [
        {"channel_id": chan["id"], "user_id": str(carol.pk), "role": "manager"}
    ]
    # The new manager may manage now.
    assert (
        client_for(carol).patch(f"/api/v1/channels/{chan['id']}", {"topic": "mine"}, format="json").status_code == 200
    )


def test_role_of_a_non_member_is_404(people, client_for, chan, make_user):
    dave = make_user("dave")
    response = client_for(people["alice"]).patch(
        f"/api/v1/channels/{chan['id']}/members/{dave.pk}", {"role": "manager"}, format="json"
    )
    assert response.status_code == 404


def test_removal_posts_unsubscribes_before_announcing(
    people, client_for, chan, system_messages, django_capture_on_commit_callbacks
):
    carol = people["carol"]
    system_messages.clear()
    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        response = client_for(people["alice"]).delete(f"/api/v1/channels/{chan['id']}/members/{carol.pk}")
    assert response.status_code == 204
    assert not ChannelMember.objects.filter(channel_id=chan["id"], user=carol).exists()
    assert system_messages == [(chan["id"], "alice removed carol")]
    order = [name for name, _ in broadcasts.calls if name != "message_created"]
    assert order == ["member_unsubscribe", "member_removed_announce"]
    # Removing someone who is not a member is harmless.
    assert client_for(people["alice"]).delete(f"/api/v1/channels/{chan['id']}/members/{carol.pk}").status_code == 204
    # The removed user no longer reads or posts.
    response = client_for(carol).post(f"/api/v1/channels/{chan['id']}/messages", {"content": "hi"}, format="json")
    assert response.status_code == 403


def test_archive_and_unarchive(people, client_for, chan, system_messages, django_capture_on_commit_callbacks):
    alice = client_for(people["alice"])
    system_messages.clear()
    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        response = alice.post(f"/api/v1/channels/{chan['id']}/archive")
    assert response.status_code == 200 and response.json()["archived_at"] is not None
    assert system_messages == [(chan["id"], "alice archived the channel")]
    assert len(broadcasts.of("channel_updated")) == 1
    assert AuditLogEntry.objects.filter(target_id=chan["id"], action="channel_archive").count() == 1
    # Read-only now: no topic, no invite, no removal, no send.
    assert alice.patch(f"/api/v1/channels/{chan['id']}", {"topic": "x"}, format="json").status_code == 409
    dave_add = alice.post(
        f"/api/v1/channels/{chan['id']}/members", {"user_ids": [str(people["admin"].pk)]}, format="json"
    )
    assert dave_add.status_code == 409
    assert alice.delete(f"/api/v1/channels/{chan['id']}/members/{people['bob'].pk}").status_code == 409
    # Archiving again is harmless.
    system_messages.clear()
    assert alice.post(f"/api/v1/channels/{chan['id']}/archive").status_code == 200
    assert system_messages == []
    response = alice.post(f"/api/v1/channels/{chan['id']}/unarchive")
    assert response.status_code == 200 and response.json()["archived_at"] is None
    assert system_messages == [(chan["id"], "alice unarchived the channel")]


def test_workspace_admins_delete_a_channel_and_members_hear_it(
    people, client_for, chan, django_capture_on_commit_callbacks
):
    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        response = client_for(people["admin"]).delete(f"/api/v1/channels/{chan['id']}")
    assert response.status_code == 204
    assert not Channel.objects.filter(pk=chan["id"]).exists()
    [deleted] = broadcasts.of("channel_deleted")
    assert deleted["channel_id"] == chan["id"]
    assert sorted(deleted["member_ids"]) == sorted(str(people[w].pk) for w in ("alice", "bob", "carol"))
    # A manager who is not a workspace admin may not delete.
    other = client_for(people["alice"]).post("/api/v1/channels", {"name": "other"}, format="json").json()
    response = client_for(people["alice"]).delete(f"/api/v1/channels/{other['id']}")
    assert response.status_code == 403 and response.json()["error"]["code"] == "admin_only"
