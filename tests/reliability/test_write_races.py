"""Issue 12, kind 1: every write's precondition is checked atomically with the write.

Real threads with their own PostgreSQL connections stand in for concurrent requests
(REST, WebSocket and the admin all call these services). Each test runs several rounds,
because a race is only lost some of the time; each failed before its fix (see
docs/reliability.md, "Found and fixed").
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.models import User
from channels_app import services as channel_services
from channels_app.models import Channel, ChannelMember
from messaging import services
from messaging.documents import ConversationKind
from messaging.mongo import get_db
from messaging.repositories import repository_for
from moderation.models import AuditLogEntry
from slackclone import errors
from tests.helpers import capture_broadcasts
from tests.messaging.support import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 6


def _outcome(func, **kwargs) -> str:
    """'ok', or the code of the domain error the call raised."""
    try:
        func(**kwargs)
    except errors.DomainError as exc:
        return exc.code
    return "ok"


@pytest.fixture
def members(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    staff = make_user("mod", is_staff=True)
    return alice, bob, staff


def _channel(name: str, *users) -> Channel:
    channel = Channel.objects.create(name=name, created_by=users[0])
    for user in users:
        ChannelMember.objects.create(channel=channel, user=user)
    return channel


@pytest.fixture(params=["channel", "dm"])
def place(request, members):
    """Where the message lives: kwargs for the services and the collection."""
    from dms.models import DmConversation

    alice, bob, _staff = members
    if request.param == "channel":
        channel = _channel("race", alice, bob)
        return {"channel_id": channel.pk}, ConversationKind.CHANNEL
    first, second = sorted([alice, bob], key=lambda user: user.pk)
    dm = DmConversation.objects.create(user1=first, user2=second)
    return {"conversation_id": dm.pk}, ConversationKind.DM


def _raw(kind: ConversationKind, message_id: str) -> dict | None:
    from bson import ObjectId

    return get_db()[repository_for(kind).collection_name].find_one({"_id": ObjectId(message_id)})


def _send(user, where, content="original"):
    with capture_broadcasts():
        return services.message_send(sender=user, content=content, **where).message


def test_exactly_one_of_concurrent_deletes_wins_and_is_broadcast_once(members, place):
    alice, _bob, _staff = members
    where, kind = place
    for _ in range(ROUNDS):
        message = _send(alice, where)
        with capture_broadcasts() as captured:
            outcomes = run_in_threads(
                3, lambda i, m=message: _outcome(services.message_delete, user=alice, message_id=m.id, **where)
            )
        assert sorted(outcomes) == ["not_found", "not_found", "ok"], outcomes
        assert len(captured.of("message_deleted")) == 1
        assert _raw(kind, message.id)["deletedAt"] is not None


def test_an_edit_racing_a_delete_lands_before_it_or_is_refused_and_the_message_stays_deleted(members, place):
    alice, _bob, _staff = members
    where, kind = place
    for round_ in range(ROUNDS):
        message = _send(alice, where)
        with capture_broadcasts() as captured:
            outcomes = run_in_threads(
                2,
                lambda i, m=message, r=round_: (
                    _outcome(services.message_delete, user=alice, message_id=m.id, **where)
                    if i == 0
                    else _outcome(services.message_edit, user=alice, message_id=m.id, content=f"edit {r}", **where)
                ),
            )
        deleted, edited = outcomes
        assert deleted == "ok"
        assert edited in ("ok", "not_found")
        raw = _raw(kind, message.id)
        assert raw["deletedAt"] is not None, "the delete answered 204 but the message came back"
        # Sockets never hear message.updated after message.deleted.
        assert captured.names[-1] == "message_deleted", captured.names
        with pytest.raises(errors.NotFound):
            services.message_edit(user=alice, message_id=message.id, content="again", **where)


def test_an_admin_delete_racing_an_api_delete_is_done_once_audited_once_broadcast_once(members, place):
    alice, _bob, staff = members
    where, kind = place
    for _ in range(ROUNDS):
        message = _send(alice, where)
        audits = AuditLogEntry.objects.count()

        def race(i, message=message):
            if i == 0:
                return _outcome(services.message_delete, user=alice, message_id=message.id, **where)
            return len(services.message_moderate_delete(kind=kind, message_ids=[message.id], by=staff))

        with capture_broadcasts() as captured:
            api, admin = run_in_threads(2, race)
        assert (api, admin) in (("ok", 0), ("not_found", 1)), (api, admin)
        assert len(captured.of("message_deleted")) == 1
        assert AuditLogEntry.objects.count() - audits == admin


def test_an_edit_racing_an_admin_delete_never_brings_the_message_back(members, place):
    alice, _bob, staff = members
    where, kind = place
    for round_ in range(ROUNDS):
        message = _send(alice, where)

        def race(i, message=message, round_=round_):
            if i == 0:
                return len(services.message_moderate_delete(kind=kind, message_ids=[message.id], by=staff))
            return _outcome(services.message_edit, user=alice, message_id=message.id, content=f"e{round_}", **where)

        with capture_broadcasts() as captured:
            admin, edited = run_in_threads(2, race)
        assert admin == 1 and edited in ("ok", "not_found")
        assert _raw(kind, message.id)["deletedAt"] is not None
        assert captured.names[-1] == "message_deleted", captured.names


def test_an_edit_racing_a_purge_never_answers_200_for_a_message_that_is_gone(members, place):
    from datetime import timedelta

    from django.utils import timezone

    alice, _bob, _staff = members
    where, kind = place
    for round_ in range(ROUNDS):
        message = _send(alice, where)
        cutoff = timezone.now() + timedelta(seconds=5)

        def race(i, message=message, round_=round_, cutoff=cutoff):
            if i == 0:
                return services.messages_purge(older_than=cutoff)[repository_for(kind).collection_name]
            return _outcome(services.message_edit, user=alice, message_id=message.id, content=f"e{round_}", **where)

        with capture_broadcasts() as captured:
            purged, edited = run_in_threads(2, race)
        assert _raw(kind, message.id) is None
        assert purged >= 1
        assert edited in ("ok", "not_found")
        if edited == "ok":  # it landed before the purge: its broadcast is of a message that existed
            assert captured.names == ["message_updated"]


@pytest.mark.parametrize("write", ["edit", "delete"])
def test_a_write_whose_author_left_after_the_check_is_refused(members, monkeypatch, write):
    """The author's membership is a precondition of editing and deleting (not staff):
    the author passes the check, their leave commits, then the write runs: it must be
    refused (403 not_a_member) and change nothing."""
    alice, bob, _staff = members
    channel = _channel(f"leave-{write}", alice, bob)
    message = _send(bob, {"channel_id": channel.pk})
    repo = repository_for(ConversationKind.CHANNEL)
    real_get, paused, go = repo.get, threading.Event(), threading.Event()
    calls = []

    def get_then_pause(**kwargs):  # the write's first look at the message, after its checks
        found = real_get(**kwargs)
        calls.append(1)
        if len(calls) == 1:
            paused.set()
            assert go.wait(10)
        return found

    monkeypatch.setattr(repo, "get", get_then_pause)

    def act():
        try:
            if write == "edit":
                return _outcome(
                    services.message_edit, user=bob, channel_id=channel.pk, message_id=message.id, content="x"
                )
            return _outcome(services.message_delete, user=bob, channel_id=channel.pk, message_id=message.id)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool, capture_broadcasts() as captured:
        acting = pool.submit(act)
        assert paused.wait(10)
        channel_services.channel_leave(user=bob, channel_id=channel.pk)
        go.set()
        outcome = acting.result(timeout=10)
    raw = _raw(ConversationKind.CHANNEL, message.id)
    assert outcome == "not_a_member"
    assert raw["editedAt"] is None and raw["deletedAt"] is None
    assert captured.of("message_updated") == [] and captured.of("message_deleted") == []


def _racing(staff_action, write, **kwargs) -> str:
    """Run staff_action() and write(**kwargs) at the same moment; the write's outcome."""

    def race(i):
        if i == 0:
            staff_action()
            return None
        return _outcome(write, **kwargs)

    with capture_broadcasts():
        return run_in_threads(2, race)[1]


@pytest.mark.parametrize("action", ["delete", "archive"])
def test_a_join_racing_a_channel_delete_or_archive_lands_before_it_or_is_refused_never_500(members, action):
    """Before, a join racing a delete failed at commit on its deferred foreign key (500,
    after storing "bob joined" for a deleted channel), and one racing an archive could
    deadlock with it (join: counter row, then the channel row for the foreign key)."""
    alice, bob, staff = members
    staff_action = getattr(channel_services, f"channel_{action}")
    for round_ in range(ROUNDS):
        channel = _channel(f"{action}-{round_}", alice)
        joined = _racing(
            lambda c=channel: staff_action(channel=c, by=staff),
            channel_services.channel_join,
            user=bob,
            channel_id=channel.pk,
        )
        member = ChannelMember.objects.filter(channel_id=channel.pk, user=bob).exists()
        if action == "delete":
            assert joined in ("ok", "not_found"), joined
            assert not Channel.objects.filter(pk=channel.pk).exists() and not member
        else:
            assert (joined, member) in (("ok", True), ("channel_archived", False)), (joined, member)


def test_a_leave_racing_a_channel_delete_never_deadlocks(members, monkeypatch):
    """The leave removes its membership row, then (posting "bob left") wants the
    conversation's row; the delete, started meanwhile, locks the channel and the
    conversation's row, then wants the membership rows (cascade). Before, the two waited
    for each other until PostgreSQL killed one (deadlock detected: a 503). Now both take
    the channel's row first, so the delete simply waits for the leave."""
    from messaging import services as messaging_services

    alice, bob, staff = members
    channel = _channel("gone", alice, bob)
    _send(alice, {"channel_id": channel.pk})  # the conversation's row exists
    real_post, removed, go = messaging_services.system_message_post, threading.Event(), threading.Event()

    def post_after_a_pause(**kwargs):  # the leave has removed bob's membership row here
        removed.set()
        assert go.wait(10)
        return real_post(**kwargs)

    monkeypatch.setattr(messaging_services, "system_message_post", post_after_a_pause)

    def run(func, **kwargs):
        try:
            return _outcome(func, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool, capture_broadcasts():
        leaving = pool.submit(run, channel_services.channel_leave, user=bob, channel_id=channel.pk)
        assert removed.wait(10)
        deleting = pool.submit(run, channel_services.channel_delete, channel=channel, by=staff)
        with pytest.raises(TimeoutError):
            deleting.result(timeout=0.5)  # it waits for the leave (at its first lock, now)
        go.set()
        assert leaving.result(timeout=15) == "ok"
        assert deleting.result(timeout=15) == "ok"
    assert not Channel.objects.filter(pk=channel.pk).exists()


def test_concurrent_renames_to_one_name_give_one_200_and_409s(members):
    alice, _bob, _staff = members
    channels = [Channel.objects.create(name=f"src-{i}", created_by=alice) for i in range(3)]
    for channel in channels:  # the creator is the channel's manager (issue 16)
        ChannelMember.objects.create(channel=channel, user=alice, role=ChannelMember.Role.MANAGER)
    outcomes = run_in_threads(
        3, lambda i: _outcome(channel_services.channel_update, user=alice, channel_id=channels[i].pk, name="target")
    )
    assert sorted(outcomes) == ["channel_name_taken", "channel_name_taken", "ok"]


def test_a_send_racing_a_channel_delete_leaves_no_orphan_message(members):
    from messaging.models import MessageSequence

    alice, _bob, staff = members
    for round_ in range(ROUNDS):
        channel = _channel(f"orph-{round_}", alice)
        sent = _racing(
            lambda c=channel: channel_services.channel_delete(channel=c, by=staff),
            services.message_send,
            sender=alice,
            channel_id=channel.pk,
            content="late",
        )
        assert sent in ("ok", "not_found"), sent
        remaining = get_db()["channel_messages"].count_documents({"channelId": str(channel.pk)})
        assert remaining == 0, f"{remaining} orphan message(s) after the channel was deleted"
        assert not MessageSequence.objects.filter(conversation_id=channel.pk).exists()


def test_a_deactivated_users_membership_removal_is_idempotent_under_races(members):
    alice, bob, _staff = members
    channel = Channel.objects.create(name="maint", created_by=alice)
    membership = ChannelMember.objects.create(channel=channel, user=bob)
    User.objects.filter(pk=bob.pk).update(is_active=False)
    with capture_broadcasts() as captured:
        removed = run_in_threads(
            3, lambda i: channel_services.channel_memberships_remove_inactive(membership_ids=[membership.pk])
        )
    assert sorted(removed) == [0, 0, 1]
    assert len(captured.of("member_left")) == 1


def test_the_issue_reproduction_over_rest_patch_and_deletes_at_the_same_moment(members):
    """The issue's reproduction, through the API: the author PATCHes and DELETEs (three
    times) one message at the same moment."""
    from rest_framework.test import APIClient

    from tests.conftest import token_for

    alice, bob, _staff = members
    channel = _channel("rest-race", alice, bob)
    token = token_for(alice)
    for round_ in range(ROUNDS):
        message = _send(alice, {"channel_id": channel.pk})
        url = f"/api/v1/channels/{channel.pk}/messages/{message.id}"

        def call(i, url=url, round_=round_):
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            if i == 0:
                return client.patch(url, {"content": f"edited {round_}"}, format="json").status_code
            return client.delete(url).status_code

        with capture_broadcasts() as captured:
            patched, *deletes = run_in_threads(4, call)
        assert sorted(deletes) == [204, 404, 404], deletes
        assert patched in (200, 404), patched
        assert len(captured.of("message_deleted")) == 1
        assert captured.names[-1] == "message_deleted", captured.names
        history = APIClient()
        history.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        listed = history.get(f"/api/v1/channels/{channel.pk}/messages").json()["results"]
        assert message.id not in [m["id"] for m in listed]
        assert history.patch(url, {"content": "again"}, format="json").status_code == 404
