"""manage.py check_consistency: orphan messages, memberships of deactivated users,
misordered DM pairs; reporting changes nothing, --fix repairs exactly what was reported."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts.models import User
from channels_app.models import Channel, ChannelMember
from dms.models import DmConversation
from messaging.documents import Conversation, ConversationKind
from messaging.mongo import get_db
from messaging.selectors import OrphanConversation
from messaging.services import orphan_messages_delete
from tests.helpers import capture_broadcasts


def check(*args) -> str:
    out = io.StringIO()
    with capture_broadcasts():
        call_command("check_consistency", *args, stdout=out)
    return out.getvalue()


def check_failing(*args) -> tuple[str, str]:
    out = io.StringIO()
    with pytest.raises(CommandError) as failure, capture_broadcasts():
        call_command("check_consistency", *args, stdout=out)
    return out.getvalue(), str(failure.value)


def stored(collection: str, **query) -> int:
    return get_db()[collection].count_documents(query)


def test_a_consistent_database_reports_nothing(channel, dm, alice, send):
    send(alice, "hi", channel=channel)
    send(alice, "hi", dm=dm)

    out = check()

    assert "Orphan messages (conversation missing in PostgreSQL): 0" in out
    assert "Memberships of deactivated users: 0" in out
    assert "DM conversations with a misordered pair: 0" in out
    assert "Consistent: nothing to report." in out
    assert "Consistent" in check("--fix")


def test_orphan_messages_are_reported_then_fixed_exactly(channel, dm, alice, bob, send):
    doomed = Channel.objects.create(name="doomed", created_by=alice)
    ChannelMember.objects.create(channel=doomed, user=alice)
    for n in range(3):
        send(alice, f"doomed {n}", channel=doomed)
    send(alice, "kept", channel=channel)
    send(alice, "dm kept", dm=dm)
    carol = User.objects.create_user("carol", "carol@example.com", "pw")
    gone_dm = DmConversation.objects.create(
        **dict(zip(("user1_id", "user2_id"), sorted([alice.pk, carol.pk]), strict=True))
    )
    send(carol, "dm doomed", dm=gone_dm)
    doomed_id, gone_dm_id = str(doomed.pk), str(gone_dm.pk)
    # Rows deleted without the services, as if MongoDB had been down during channel_delete.
    Channel.objects.filter(pk=doomed.pk).delete()
    DmConversation.objects.filter(pk=gone_dm.pk).delete()

    out, error = check_failing()

    assert "Orphan messages (conversation missing in PostgreSQL): 2 conversation(s)" in out
    assert f"channel {doomed_id}: 3 message(s)" in out
    assert f"dm {gone_dm_id}: 1 message(s)" in out
    assert "2 problem(s) found" in error and "--fix" in error
    assert stored("channel_messages", channelId=doomed_id) == 3  # reporting changed nothing
    assert stored("dm_messages", conversationId=gone_dm_id) == 1

    fixed = check("--fix")

    assert "Deleted 3 orphan message(s) from channel_messages" in fixed
    assert "Deleted 1 orphan message(s) from dm_messages" in fixed
    assert "Fixed everything reported." in fixed
    assert stored("channel_messages", channelId=doomed_id) == 0
    assert stored("dm_messages", conversationId=gone_dm_id) == 0
    assert stored("channel_messages", channelId=str(channel.pk)) == 1
    assert stored("dm_messages", conversationId=str(dm.pk)) == 1
    assert "Consistent" in check()


def test_a_conversation_that_reappears_before_the_fix_is_left_alone(channel, alice, send):
    """--fix checks PostgreSQL again: a channel whose creation had not committed when
    it was reported keeps its messages."""
    send(alice, "hello", channel=channel)
    reported = OrphanConversation(Conversation(ConversationKind.CHANNEL, str(channel.pk)), 1)

    counts = orphan_messages_delete(orphans=[reported], created_before=timezone.now())

    assert counts == {"channel_messages": 0, "dm_messages": 0}
    assert stored("channel_messages", channelId=str(channel.pk)) == 1


def test_memberships_of_deactivated_users_are_reported_then_removed(
    channel, alice, bob, django_capture_on_commit_callbacks
):
    other = Channel.objects.create(name="random", created_by=alice)
    ChannelMember.objects.create(channel=other, user=bob)
    ChannelMember.objects.create(channel=other, user=alice)
    User.objects.filter(pk=bob.pk).update(is_active=False)

    out, _error = check_failing()

    assert "Memberships of deactivated users: 2" in out
    assert f"bob ({bob.pk}) in #general" in out and f"bob ({bob.pk}) in #random" in out
    assert ChannelMember.objects.filter(user=bob).count() == 2

    with capture_broadcasts() as broadcasts, django_capture_on_commit_callbacks(execute=True):
        fixed = io.StringIO()
        call_command("check_consistency", "--fix", stdout=fixed)

    assert "Removed 2 membership(s) of deactivated users" in fixed.getvalue()
    assert not ChannelMember.objects.filter(user=bob).exists()
    assert ChannelMember.objects.filter(user=alice).count() == 2
    assert sorted((call["channel_id"], call["user_id"]) for call in broadcasts.of("member_left")) == sorted(
        [(str(channel.pk), str(bob.pk)), (str(other.pk), str(bob.pk))]
    )


def test_the_fix_keeps_the_last_member_of_a_private_channel(alice, bob, make_user):
    """A private channel keeps one member (409 `last_member` for a leave or a removal):
    removing every deactivated member of one whose members are all deactivated left it
    empty, invisible to everyone and its name taken for good."""
    carol = make_user("carol")
    secret = Channel.objects.create(name="secret", created_by=bob, is_private=True)
    ChannelMember.objects.create(channel=secret, user=bob)
    ChannelMember.objects.create(channel=secret, user=carol)
    mixed = Channel.objects.create(name="mixed", created_by=alice, is_private=True)
    ChannelMember.objects.create(channel=mixed, user=alice)
    ChannelMember.objects.create(channel=mixed, user=bob)
    User.objects.filter(pk__in=[bob.pk, carol.pk]).update(is_active=False)

    check("--fix")

    assert list(ChannelMember.objects.filter(channel=secret).values_list("user_id", flat=True)) == [bob.pk]
    assert list(ChannelMember.objects.filter(channel=mixed).values_list("user_id", flat=True)) == [alice.pk]


@pytest.fixture
def without_pair_check(db):
    """Drop the CHECK constraint inside the test's transaction (rolled back after it)."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE dm_conversations DROP CONSTRAINT dm_conversations_ordered_pair")


def test_misordered_dm_pairs_are_reported_and_swapped_where_safe(without_pair_check, make_user):
    a, b, c, d = sorted((make_user(name) for name in ("ann", "ben", "cat", "dan")), key=lambda user: user.pk)
    swapped = DmConversation.objects.create(user1=b, user2=a)  # fixable
    DmConversation.objects.create(user1=c, user2=d)
    duplicate = DmConversation.objects.create(user1=d, user2=c)  # its well-ordered twin exists
    selfish = DmConversation.objects.create(user1=a, user2=a)
    fine = DmConversation.objects.create(user1=a, user2=d)

    out, error = check_failing()

    assert "DM conversations with a misordered pair: 3" in out
    assert f"{swapped.pk}: user1 {b.pk}, user2 {a.pk} (fixable: swap the users)" in out
    assert f"{duplicate.pk}: user1 {d.pk}, user2 {c.pk} (not fixable automatically: duplicate)" in out
    assert f"{selfish.pk}: user1 {a.pk}, user2 {a.pk} (not fixable automatically: self)" in out
    assert "3 problem(s) found" in error

    out, error = check_failing("--fix")

    assert "Swapped the users of 1 DM conversation(s)" in out
    assert "2 problem(s) need a person" in error
    swapped.refresh_from_db()
    assert (swapped.user1_id, swapped.user2_id) == (a.pk, b.pk)
    fine.refresh_from_db()
    assert (fine.user1_id, fine.user2_id) == (a.pk, d.pk)
    out, _error = check_failing()
    assert "DM conversations with a misordered pair: 2" in out


def test_the_help_says_what_is_checked():
    from django.core.management import load_command_class

    text = " ".join(load_command_class("moderation", "check_consistency").create_parser("m", "c").format_help().split())

    assert "orphan messages" in text and "deactivated users" in text and "--fix" in text
    assert "the foreign key cascades" in text


def test_an_unreachable_mongodb_is_a_clear_error(db, monkeypatch, settings):
    from messaging import mongo

    settings.MONGO_URL, settings.MONGO_TIMEOUT_MS = "mongodb://127.0.0.1:9/", 150
    real = mongo.get_client()
    monkeypatch.setattr(mongo, "_client", None)
    try:
        with pytest.raises(CommandError, match="mongo"):
            call_command("check_consistency", stdout=io.StringIO())
    finally:
        if mongo._client is not None:
            mongo._client.close()
        mongo._client = real
