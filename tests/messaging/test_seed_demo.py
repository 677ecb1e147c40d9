"""manage.py seed_demo and the bulk import under it (messaging.services.messages_import)."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command, load_command_class

from accounts.models import User
from channels_app.models import Channel, ChannelMember
from dms.models import DmConversation
from messaging import services
from messaging.documents import Conversation, ConversationKind
from messaging.models import MessageSequence
from messaging.mongo import get_db
from messaging.seeding import DEMO_PASSWORD
from tests.helpers import capture_broadcasts
from tests.messaging.support import run_in_threads


def seed(*args) -> str:
    out = io.StringIO()
    with capture_broadcasts() as broadcasts:
        call_command("seed_demo", *args, stdout=out, stderr=io.StringIO())
    assert broadcasts.calls == []  # seeding announces nothing
    return out.getvalue()


def all_messages() -> list[dict]:
    db = get_db()
    return list(db["channel_messages"].find()) + list(db["dm_messages"].find())


def assert_seq_consistent():
    """Per conversation: seq 1..n without gaps, createdAt never back with seq, and the
    counter at the last seq and createdAt."""
    by_conversation: dict[str, list[dict]] = {}
    for doc in all_messages():
        by_conversation.setdefault(doc.get("channelId") or doc["conversationId"], []).append(doc)
    for conversation_id, docs in by_conversation.items():
        docs.sort(key=lambda doc: doc["seq"])
        assert [doc["seq"] for doc in docs] == list(range(1, len(docs) + 1))
        times = [doc["createdAt"] for doc in docs]
        assert times == sorted(times)
        counter = MessageSequence.objects.get(conversation_id=conversation_id)
        assert counter.last_seq == len(docs)
        assert counter.last_created_at.astimezone(UTC) == times[-1].astimezone(UTC)
        assert times[-1].astimezone(UTC) <= datetime.now(UTC)


def test_the_default_run_seeds_a_small_demo_and_prints_the_login(db):
    out = seed()

    assert list(User.objects.order_by("username").values_list("username", flat=True)) == [
        "alice",
        "bob",
        "carol",
        "dave",
        "demo",
    ]
    assert set(Channel.objects.values_list("name", flat=True)) == {"general", "random", "engineering"}
    assert ChannelMember.objects.filter(channel__name="general").count() == 5
    assert DmConversation.objects.count() == 4
    assert len(all_messages()) == 60
    assert_seq_consistent()
    assert "username 'demo'" in out and f"password '{DEMO_PASSWORD}'" in out
    assert "messages: 60 created" in out and "messages/s" in out
    demo = User.objects.get(username="demo")
    assert demo.check_password(DEMO_PASSWORD) and demo.is_active


def test_running_twice_creates_nothing_new(db):
    seed()
    before = (
        User.objects.count(),
        Channel.objects.count(),
        ChannelMember.objects.count(),
        DmConversation.objects.count(),
    )

    out = seed()

    after = (
        User.objects.count(),
        Channel.objects.count(),
        ChannelMember.objects.count(),
        DmConversation.objects.count(),
    )
    assert after == before
    assert len(all_messages()) == 60
    assert "users: 0 created" in out and "channels: 0 created" in out and "DMs: 0 created" in out
    assert "messages: none created, 60 already there" in out


def test_a_larger_target_tops_up_and_reports_progress(db):
    seed()

    out = seed("--users", "12", "--channels", "6", "--messages", "400", "--batch-size", "50")

    assert User.objects.count() == 12
    assert Channel.objects.count() == 6
    assert "demo-channel-6" in set(Channel.objects.values_list("name", flat=True))
    assert len(all_messages()) == 400
    assert_seq_consistent()
    assert "  50/340 messages (" in out and "  340/340 messages (100%" in out  # progress of the top-up
    assert "messages: 340 created" in out


def test_the_help_explains_the_flags_and_the_password():
    parser = load_command_class("messaging", "seed_demo").create_parser("manage.py", "seed_demo")
    text = " ".join(parser.format_help().split())

    for flag in ("--users", "--channels", "--messages", "--batch-size"):
        assert flag in text
    assert "Idempotent" in text and DEMO_PASSWORD in text


@pytest.mark.parametrize(
    "args", [("--users", "1"), ("--channels", "0"), ("--messages", "-5"), ("--messages", "many"), ("--batch-size", "0")]
)
def test_bad_sizes_are_a_clear_error(db, args):
    with pytest.raises(CommandError, match="must be an integer"):
        call_command("seed_demo", *args, stdout=io.StringIO())


def test_an_unreachable_mongodb_is_a_clear_error(db, mongo_down):
    with pytest.raises(CommandError, match="mongo"):
        call_command("seed_demo", stdout=io.StringIO())


# --- messages_import -----------------------------------------------------------------


def test_import_reserves_one_seq_range_per_batch_after_live_messages(make_user, make_channel):
    alice = make_user()
    channel = make_channel(alice)
    conversation = Conversation(ConversationKind.CHANNEL, str(channel.pk))
    with capture_broadcasts():
        live = services.message_send(sender=alice, channel_id=channel.pk, content="live").message
    wished = datetime(2020, 1, 1, tzinfo=UTC)  # before the live message: raised to it

    imported = services.messages_import(
        conversation=conversation,
        drafts=[services.MessageDraft(sender_id=str(alice.pk), content=f"m{n}", created_at=wished) for n in range(5)],
    )

    assert [m.seq for m in imported] == [2, 3, 4, 5, 6]
    assert all(m.created_at == live.created_at for m in imported)
    with capture_broadcasts():
        after = services.message_send(sender=alice, channel_id=channel.pk, content="after").message
    assert after.seq == 7 and after.created_at >= imported[-1].created_at
    assert_seq_consistent()


def test_import_keeps_wished_times_in_order_and_never_in_the_future(make_user, make_channel):
    alice = make_user()
    conversation = Conversation(ConversationKind.CHANNEL, str(make_channel(alice).pk))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    wishes = [start, start + timedelta(hours=1), start, datetime.now(UTC) + timedelta(days=3)]

    imported = services.messages_import(
        conversation=conversation,
        drafts=[services.MessageDraft(sender_id=None, content="x", created_at=at) for at in wishes],
    )

    times = [m.created_at for m in imported]
    assert times[:3] == [start, start + timedelta(hours=1), start + timedelta(hours=1)]
    assert times[3] <= datetime.now(UTC)


def test_import_resyncs_a_counter_that_is_behind_mongodb(make_user, make_channel):
    alice = make_user()
    channel = make_channel(alice)
    conversation = Conversation(ConversationKind.CHANNEL, str(channel.pk))
    services.messages_import(conversation=conversation, drafts=[services.MessageDraft(sender_id=None, content="x")] * 3)
    MessageSequence.objects.filter(conversation_id=channel.pk).update(last_seq=1)  # e.g. restored from a backup

    imported = services.messages_import(
        conversation=conversation, drafts=[services.MessageDraft(sender_id=None, content="y")] * 2
    )

    assert [m.seq for m in imported] == [4, 5]
    docs = list(get_db()["channel_messages"].find({"channelId": str(channel.pk)}).sort("seq", 1))
    assert [(d["seq"], d["content"]) for d in docs] == [(1, "x"), (2, "x"), (3, "x"), (4, "y"), (5, "y")]


@pytest.mark.django_db(transaction=True)
def test_import_and_live_sends_in_one_conversation_stay_consistent(make_user, make_channel):
    senders = [make_user() for _ in range(3)]
    channel = make_channel(*senders)
    conversation = Conversation(ConversationKind.CHANNEL, str(channel.pk))

    def work(index):
        if index == 0:
            for _ in range(6):
                services.messages_import(
                    conversation=conversation,
                    drafts=[services.MessageDraft(sender_id=None, content="bulk")] * 200,
                )
        else:
            for n in range(20):
                services.message_send(sender=senders[index], channel_id=channel.pk, content=f"live {n}")

    with capture_broadcasts() as broadcasts:
        run_in_threads(3, work)

    assert len(all_messages()) == 6 * 200 + 2 * 20
    assert_seq_consistent()
    assert len(broadcasts.of("message_created")) == 40  # only the live sends


def test_the_second_workspace_has_its_own_people_channels_and_dms(db):
    from accounts.models import Workspace, WorkspaceMember

    out = io.StringIO()
    with capture_broadcasts():
        call_command("seed_demo", "--second-workspace", stdout=out, stderr=io.StringIO())
        call_command("seed_demo", "--second-workspace", stdout=io.StringIO(), stderr=io.StringIO())  # idempotent

    acme = Workspace.objects.get(slug="acme")
    assert acme.joining == "invite_only"
    assert set(Channel.objects.filter(workspace=acme).values_list("name", flat=True)) == {"acme-general", "acme-launch"}
    assert set(Channel.objects.exclude(workspace=acme).values_list("name", flat=True)) == {
        "general",
        "random",
        "engineering",
    }
    assert DmConversation.objects.filter(workspace=acme).count() == 4
    assert set(WorkspaceMember.objects.filter(user__username="demo").values_list("workspace__slug", flat=True)) == {
        "default",
        "acme",
    }
    assert not WorkspaceMember.objects.filter(workspace__slug="default", user__username__startswith="acme-").exists()
    assert "second workspace 'acme'" in out.getvalue()
    assert_seq_consistent()
