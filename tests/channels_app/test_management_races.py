"""Races of channel management (issue 16), with real threads and real commits: a removal
racing a send, an archive racing an invite, a delete racing a send or an edit. Nothing
acknowledged is lost; nothing is stored after the change committed.

Each test pauses the first operation just after its checks made outside the lock (the
window a race falls into), commits the second one there, then lets the first go on."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.models import default_workspace_id
from channels_app import services as channel_services
from channels_app import services_manage
from channels_app.models import Channel, ChannelMember
from messaging import services as messaging_services
from messaging import validation
from messaging.documents import ConversationKind
from messaging.models import MessageSequence
from messaging.repositories import repository_for
from slackclone import errors
from tests.helpers import backends_waiting_for_a_lock, capture_broadcasts

pytestmark = pytest.mark.django_db(transaction=True)


def _outcome(func, **kwargs) -> str:
    try:
        func(**kwargs)
    except errors.DomainError as exc:
        return exc.code
    finally:
        connection.close()
    return "ok"


@pytest.fixture
def people(make_user):
    return make_user("alice"), make_user("bob"), make_user("carol"), make_user("wsadmin", role="admin")


def _channel(alice, bob, *, private=False) -> Channel:
    channel = Channel.objects.create(name="race", created_by=alice, is_private=private)
    ChannelMember.objects.create(channel=channel, user=alice, role=ChannelMember.Role.MANAGER)
    ChannelMember.objects.create(channel=channel, user=bob)
    return channel


def _texts(channel) -> list[str]:
    """The contents of the channel's newest 50 messages."""
    return [
        m.content
        for m in repository_for(ConversationKind.CHANNEL).newest_page(conversation_id=str(channel.pk), limit=50)
    ]


def _remove_bob(pool, alice, bob, channel):
    """Alice removes bob, in `pool`: the future of its outcome."""
    return pool.submit(
        _outcome,
        services_manage.channel_member_remove,
        user=alice,
        workspace=None,
        channel_id=channel.pk,
        user_id=bob.pk,
    )


def _paused(monkeypatch, module, name):
    """Make module.name wait (once) until `go` is set, after setting `reached`."""
    real, reached, go = getattr(module, name), threading.Event(), threading.Event()
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            reached.set()
            assert go.wait(15)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return reached, go


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
def test_a_send_racing_the_senders_removal_is_refused_and_stores_nothing(people, monkeypatch, private):
    alice, bob, _carol, _admin = people
    channel = _channel(alice, bob, private=private)
    # message_send validates the content right after its membership check (outside the lock).
    reached, go = _paused(monkeypatch, validation, "clean_content")
    with ThreadPoolExecutor(2) as pool, capture_broadcasts():
        sending = pool.submit(
            _outcome, messaging_services.message_send, sender=bob, channel_id=channel.pk, content="sneaky"
        )
        assert reached.wait(15)
        assert _remove_bob(pool, alice, bob, channel).result(timeout=15) == "ok"  # committed while the send waited
        go.set()
        assert sending.result(timeout=15) == ("not_found" if private else "not_a_member")
    texts = _texts(channel)
    assert "sneaky" not in texts and "alice removed bob" in texts


@pytest.mark.parametrize("rounds", [6])
def test_removals_racing_sends_never_store_a_message_after_the_removal(people, rounds):
    """Unpaused: the two run at once; whatever the interleaving, an acknowledged send
    comes before the removal's SYSTEM message, and none comes after it."""
    alice, bob, _carol, _admin = people
    for n in range(rounds):
        channel = Channel.objects.create(name=f"r{n}", created_by=alice)
        ChannelMember.objects.create(channel=channel, user=alice, role=ChannelMember.Role.MANAGER)
        ChannelMember.objects.create(channel=channel, user=bob)
        barrier = threading.Barrier(2)

        def send(channel=channel, barrier=barrier):
            barrier.wait()
            return _outcome(messaging_services.message_send, sender=bob, channel_id=channel.pk, content="mine")

        def remove(channel=channel, barrier=barrier):
            barrier.wait()
            return _outcome(
                services_manage.channel_member_remove,
                user=alice,
                workspace=None,
                channel_id=channel.pk,
                user_id=bob.pk,
            )

        with ThreadPoolExecutor(2) as pool, capture_broadcasts():
            sent, removed = pool.submit(send), pool.submit(remove)
            assert removed.result(timeout=30) == "ok"
            outcome = sent.result(timeout=30)
        stored = repository_for(ConversationKind.CHANNEL).newest_page(conversation_id=str(channel.pk), limit=50)
        by_content = {m.content: m.seq for m in stored}
        if outcome == "ok":
            assert by_content["mine"] < by_content["alice removed bob"]
        else:
            assert outcome == "not_a_member" and "mine" not in by_content


def test_an_invite_racing_an_archive_is_refused_once_the_archive_committed(people, monkeypatch):
    alice, bob, carol, _admin = people
    channel = _channel(alice, bob)
    from channels_app import services_manage as module

    # channel_members_add looks the invitees up before it locks the channel.
    reached, go = _paused(monkeypatch, module, "user_get_active")
    with ThreadPoolExecutor(2) as pool, capture_broadcasts():
        inviting = pool.submit(
            _outcome, module.channel_members_add, user=bob, workspace=None, channel_id=channel.pk, user_ids=[carol.pk]
        )
        assert reached.wait(15)
        archiving = pool.submit(
            _outcome, module.channel_set_archived, user=alice, workspace=None, channel_id=channel.pk, archived=True
        )
        assert archiving.result(timeout=15) == "ok"
        go.set()
        assert inviting.result(timeout=15) == "channel_archived"
    assert not ChannelMember.objects.filter(channel=channel, user=carol).exists()
    texts = _texts(channel)
    assert texts[0] == "alice archived the channel" and "bob added carol" not in texts


@pytest.mark.parametrize("operation", ["send", "edit"])
def test_a_send_or_edit_racing_the_channels_deletion_stores_nothing(people, monkeypatch, operation):
    alice, bob, _carol, admin = people
    channel = _channel(alice, bob)
    with capture_broadcasts():
        message = messaging_services.message_send(sender=bob, channel_id=channel.pk, content="before").message
    reached, go = _paused(monkeypatch, validation, "clean_content")
    if operation == "send":
        call = {"func": messaging_services.message_send, "sender": bob, "channel_id": channel.pk, "content": "after"}
    else:
        call = {
            "func": messaging_services.message_edit,
            "user": bob,
            "channel_id": channel.pk,
            "message_id": message.id,
            "content": "after",
        }
    func = call.pop("func")
    with ThreadPoolExecutor(2) as pool, capture_broadcasts():
        writing = pool.submit(_outcome, func, **call)
        assert reached.wait(15)
        deleting = pool.submit(
            _outcome, services_manage.channel_delete_by_admin, user=admin, workspace=None, channel_id=channel.pk
        )
        assert deleting.result(timeout=15) == "ok"
        go.set()
        assert writing.result(timeout=15) == "not_found"
    assert not Channel.objects.filter(pk=channel.pk).exists()
    assert not MessageSequence.objects.filter(conversation_id=channel.pk).exists()
    assert repository_for(ConversationKind.CHANNEL).count(conversation_id=str(channel.pk)) == 0
    assert str(default_workspace_id())  # the channel was the default workspace's


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
def test_one_query_decides_a_whole_batchs_senders(people, private, django_assert_num_queries):
    """A group-commit batch checks its senders under the hot conversation's lock: one
    query whatever their number (it was one per sender, plus one for the archive)."""
    from channels_app.selectors import channel_senders_check

    alice, bob, carol, admin = people
    channel = _channel(alice, bob, private=private)
    senders = [str(alice.pk), str(bob.pk), str(carol.pk), str(admin.pk)]
    with django_assert_num_queries(1):
        archived, refused = channel_senders_check(channel_id=channel.pk, user_ids=senders)
    assert archived is False
    assert set(refused) == {str(carol.pk), str(admin.pk)}
    assert {exc.code for exc in refused.values()} == {"not_found" if private else "not_a_member"}
    Channel.objects.filter(pk=channel.pk).update(archived_at="2026-01-01T00:00:00Z")
    assert channel_senders_check(channel_id=channel.pk, user_ids=senders)[0] is True
    channel.delete()
    with pytest.raises(errors.NotFound):
        channel_senders_check(channel_id=channel.pk, user_ids=senders)


def test_only_the_removed_sender_is_refused_while_others_send(people, monkeypatch):
    """Bob's send is paused after its checks outside the lock; he is removed; carol sends.
    Bob's is refused under the lock, carol's is stored (the per-sender verdicts of
    `channel_senders_check`, not one verdict for everyone in the batch)."""
    alice, bob, carol, _admin = people
    channel = _channel(alice, bob)
    ChannelMember.objects.create(channel=channel, user=carol)
    reached, go = _paused(monkeypatch, validation, "clean_content")
    with ThreadPoolExecutor(3) as pool, capture_broadcasts():
        bobs = pool.submit(_outcome, messaging_services.message_send, sender=bob, channel_id=channel.pk, content="b")
        assert reached.wait(15)
        assert (
            _outcome(
                services_manage.channel_member_remove,
                user=alice,
                workspace=None,
                channel_id=channel.pk,
                user_id=bob.pk,
            )
            == "ok"
        )
        send = messaging_services.message_send
        carols = pool.submit(_outcome, send, sender=carol, channel_id=channel.pk, content="c")
        go.set()
        assert bobs.result(timeout=15) == "not_a_member"
        assert carols.result(timeout=15) == "ok"
    texts = _texts(channel)
    assert "c" in texts and "b" not in texts


@pytest.mark.parametrize("first_message", [True, False], ids=["first-message", "later-message"])
def test_a_send_waiting_for_the_lock_of_the_senders_removal_is_refused(people, monkeypatch, first_message):
    """The removal holds the conversation's lock, not committed yet, while bob's send
    waits for it (its checks outside the lock passed: bob was still a member). Once the
    removal commits, the send's member check must see it: the check is read after the
    lock was granted, never with a snapshot from before the wait. With no message in
    the channel yet, the removal's own post creates the seq row, so the send finds no
    row to lock and waits in the seq reserve's upsert instead."""
    import time

    alice, bob, _carol, _admin = people
    channel = _channel(alice, bob)
    if not first_message:
        messaging_services.message_send(sender=alice, channel_id=channel.pk, content="hello")
    reached, go = _paused_after(monkeypatch, channel_services, "_membership_remove")
    with ThreadPoolExecutor(2) as pool, capture_broadcasts():
        removing = _remove_bob(pool, alice, bob, channel)
        assert reached.wait(15)  # removed, posted, lock held, not committed
        sending = pool.submit(_outcome, messaging_services.message_send, sender=bob, channel_id=channel.pk, content="x")
        deadline = time.monotonic() + 15
        while backends_waiting_for_a_lock() == 0:
            assert time.monotonic() < deadline, "the send never waited for the removal's lock"
            time.sleep(0.01)
        go.set()
        assert removing.result(timeout=15) == "ok"
        assert sending.result(timeout=15) == "not_a_member"
    texts = _texts(channel)
    assert "x" not in texts and "alice removed bob" in texts


def _paused_after(monkeypatch, module, name):
    """Make module.name, once, wait after it ran until `go` is set, after setting `reached`."""
    real, reached, go = getattr(module, name), threading.Event(), threading.Event()

    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        if not reached.is_set():
            reached.set()
            assert go.wait(15)
        return result

    monkeypatch.setattr(module, name, wrapper)
    return reached, go


def test_a_send_queued_while_its_batch_waited_for_the_removals_lock_is_checked_too(people, monkeypatch):
    """Carol's send leads a batch and waits for the lock of bob's removal; bob's send
    queues behind it during the wait (its checks outside the lock passed: the removal is
    not committed). Every send a batch takes must be checked once the lock is granted,
    also one that queued after the batch's leader asked for the lock: bob's is refused.
    (A batch that checked only the senders queued when it asked for the lock would store
    bob's message.)"""
    import time

    from messaging.services import group_commit

    alice, bob, carol, _admin = people
    channel = _channel(alice, bob)
    ChannelMember.objects.create(channel=channel, user=carol)
    messaging_services.message_send(sender=alice, channel_id=channel.pk, content="hello")
    queue_key = (ConversationKind.CHANNEL.value, str(channel.pk))

    def queued() -> int:
        queue = group_commit._send_queues.get(queue_key)
        return 0 if queue is None else len(queue.waiting)

    def wait_until(predicate, what):
        deadline = time.monotonic() + 15
        while not predicate():
            assert time.monotonic() < deadline, what
            time.sleep(0.01)

    reached, go = _paused_after(monkeypatch, channel_services, "_membership_remove")
    with ThreadPoolExecutor(3) as pool, capture_broadcasts():
        removing = _remove_bob(pool, alice, bob, channel)
        assert reached.wait(15)  # removed, posted, lock held, not committed
        send = messaging_services.message_send
        carols = pool.submit(_outcome, send, sender=carol, channel_id=channel.pk, content="c")
        wait_until(lambda: backends_waiting_for_a_lock() == 1, "carol's batch never waited for the lock")
        bobs = pool.submit(_outcome, send, sender=bob, channel_id=channel.pk, content="b")
        wait_until(lambda: queued() == 2, "bob's send never queued behind carol's")
        go.set()
        assert removing.result(timeout=15) == "ok"
        assert carols.result(timeout=15) == "ok"
        assert bobs.result(timeout=15) == "not_a_member"
    texts = _texts(channel)
    assert "c" in texts and "b" not in texts


@pytest.mark.parametrize("rounds", range(3))
def test_the_last_two_members_of_a_private_channel_leaving_at_once_leave_one(people, rounds):
    """The last-member rule is decided under the channel's row lock: of two members
    leaving at once (real threads), one leaves and the other gets 409 `last_member`."""
    from channels_app import services as channel_services

    alice, bob, _carol, _admin = people
    channel = _channel(alice, bob, private=True)
    barrier = threading.Barrier(2)

    def leave(user):
        barrier.wait()
        return _outcome(channel_services.channel_leave, user=user, workspace=None, channel_id=channel.pk)

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(leave, [alice, bob]))

    assert outcomes == ["last_member", "ok"]
    assert ChannelMember.objects.filter(channel=channel).count() == 1
