"""Fixtures of the messaging tests: channels and DMs made through the ORM, and a
MongoDB that does not answer (without touching the shared server)."""

from types import SimpleNamespace

import pytest

from tests.messaging.support import Where


@pytest.fixture
def make_channel(make_user):
    from channels_app.models import Channel, ChannelMember

    counter = iter(range(1, 1_000_000))

    def make(*members, name: str | None = None):
        creator = members[0] if members else make_user()
        channel = Channel.objects.create(name=name or f"chan-{next(counter)}", created_by=creator)
        for user in members:
            ChannelMember.objects.create(channel=channel, user=user)
        return channel

    return make


@pytest.fixture
def make_dm():
    from dms.models import DmConversation

    def make(a, b):
        first, second = sorted([a, b], key=lambda user: user.pk)
        return DmConversation.objects.create(user1=first, user2=second)

    return make


@pytest.fixture
def channel(make_channel, alice, bob):
    """#general with alice and bob as members."""
    return make_channel(alice, bob, name="general")


@pytest.fixture
def dm(make_dm, alice, bob):
    return make_dm(alice, bob)


@pytest.fixture(params=["channel", "dm"])
def where(request, channel, dm):
    """Runs a test once in a channel and once in a DM (alice and bob in both).
    Gives (url prefix, service kwargs, Conversation)."""
    return _where(request.param, channel, dm)


def _where(kind, channel, dm):
    if kind == "channel":
        return Where(f"/api/v1/channels/{channel.pk}/messages", {"channel_id": channel.pk}, channel.pk, "channel")
    return Where(f"/api/v1/dms/{dm.pk}/messages", {"conversation_id": dm.pk}, dm.pk, "dm")


@pytest.fixture
def group_dm(make_user, alice, bob):
    """A group DM of alice, bob and a third member, opened through the service (issue 16)."""
    from dms.services import group_dm_open

    group, _ = group_dm_open(user=alice, user_ids=[bob.pk, make_user("gdmthird").pk])
    return group


@pytest.fixture(params=["channel", "dm", "group_dm"])
def where_all(request, channel, dm, group_dm):
    """`where`, and a group DM too (alice and bob are members of all three): the issue-17
    tests run with it, since threads, reactions, mentions and pins work in a group DM
    exactly as in a DM, under /group-dms/{id}/."""
    if request.param == "group_dm":
        return Where(f"/api/v1/group-dms/{group_dm.pk}/messages", {"conversation_id": group_dm.pk}, group_dm.pk, "dm")
    return _where(request.param, channel, dm)


def mongo_unreachable():
    """Point the process's MongoClient at a closed port (the shared server keeps
    running): every MongoDB call fails fast with a server-selection timeout. Returns
    (the real database, restore): restore() brings the real client back."""
    from django.conf import settings

    from messaging import mongo

    real_client = mongo.get_client()
    original = (settings.MONGO_URL, settings.MONGO_TIMEOUT_MS)
    settings.MONGO_URL = "mongodb://127.0.0.1:9/"
    settings.MONGO_TIMEOUT_MS = 150
    mongo._client = None

    def restore():
        if mongo._client is not None and mongo._client is not real_client:
            mongo._client.close()
        settings.MONGO_URL, settings.MONGO_TIMEOUT_MS = original
        mongo._client = real_client

    return real_client[settings.MONGO_DB], restore


@pytest.fixture
def mongo_down():
    """MongoDB unreachable for the test (see mongo_unreachable). Gives `.db` (the real
    database, to check what was not written) and `.restore()` (bring the real client
    back before the test ends)."""
    db, restore = mongo_unreachable()
    yield SimpleNamespace(db=db, restore=restore)
    restore()
