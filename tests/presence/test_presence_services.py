"""Presence in Redis: online with the first connection, offline after the grace, exactly once."""

import re
import threading
import time

import pytest
from django.core.management import call_command

from channels_app import services as channel_services
from dms import services as dm_services
from presence import store
from presence.models import UserPresence
from presence.services import (
    presence_connect,
    presence_disconnect,
    presence_get_many,
    presence_snapshot,
    presence_sweep,
)

pytestmark = pytest.mark.django_db

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# Issue 18: presence gains the status fields (empty, no DND, for these users).
NO_STATUS = {"status_text": "", "status_emoji": "", "dnd": False, "dnd_until": None}


def status_of(user) -> dict:
    return presence_get_many(user_ids=[str(user.pk)])[0]


def test_a_user_never_seen_is_offline_with_no_last_seen(make_user):
    user = make_user()

    assert status_of(user) == {"user_id": str(user.pk), "status": "offline", "last_seen_at": None, **NO_STATUS}


def test_the_first_connection_turns_the_user_online_and_is_announced_once(make_user, announced):
    user = make_user()

    assert presence_connect(user_id=str(user.pk), connection="conn-1").went_online is True
    assert presence_connect(user_id=str(user.pk), connection="conn-2").went_online is False

    assert [call["status"] for call in announced] == ["online"]
    assert announced[0]["user_id"] == str(user.pk)
    assert ISO_MS.match(announced[0]["last_seen_at"])
    current = status_of(user)
    assert current["status"] == "online"
    assert ISO_MS.match(current["last_seen_at"])


def test_the_announcement_goes_to_every_channel_and_dm_of_the_user(make_user, announced):
    user, other = make_user(), make_user()
    first = channel_services.channel_create(user=user, name="first")
    second = channel_services.channel_create(user=user, name="second")
    conversation, _ = dm_services.dm_open(user=user, other_user_id=other.pk)

    presence_connect(user_id=str(user.pk), connection="conn-1")

    assert sorted(announced[0]["channel_ids"]) == sorted([str(first.pk), str(second.pk)])
    assert announced[0]["conversation_ids"] == [str(conversation.pk)]


def test_the_user_stays_online_during_the_grace_then_goes_offline_once(make_user, announced, fast_presence):
    user = make_user()
    uid = str(user.pk)
    presence_connect(user_id=uid, connection="a")
    presence_connect(user_id=uid, connection="b")

    presence_disconnect(user_id=uid, connection="a")
    assert status_of(user)["status"] == "online"
    presence_disconnect(user_id=uid, connection="b")
    assert status_of(user)["status"] == "online"  # grace
    assert presence_sweep() == []

    time.sleep(0.4)
    assert status_of(user)["status"] == "offline"  # read lazily, before any sweep
    assert presence_sweep() == [uid]
    assert presence_sweep() == []

    assert [call["status"] for call in announced] == ["online", "offline"]
    assert status_of(user)["last_seen_at"] == announced[1]["last_seen_at"]


def test_a_reconnect_within_the_grace_announces_nothing(make_user, announced, fast_presence):
    user = make_user()
    uid = str(user.pk)
    presence_connect(user_id=uid, connection="a")
    presence_disconnect(user_id=uid, connection="a")

    assert presence_connect(user_id=uid, connection="b").went_online is False
    time.sleep(0.4)

    assert presence_sweep() == []
    assert status_of(user)["status"] == "online"
    assert [call["status"] for call in announced] == ["online"]


def test_connections_of_a_dead_process_expire_and_the_sweep_turns_the_user_offline(make_user, announced, fast_presence):
    fast_presence.PRESENCE_TTL_SECONDS = 0.3
    user = make_user()
    uid = str(user.pk)
    presence_connect(user_id=uid, connection="never-closed")
    connected_at = announced[0]["last_seen_at"]

    time.sleep(0.4)  # no heartbeat, no disconnect: the process died

    assert status_of(user)["status"] == "offline"
    assert presence_sweep() == [uid]
    assert announced[-1] == {**announced[-1], "status": "offline", "last_seen_at": connected_at}


def test_many_processes_sweeping_at_once_announce_offline_once(make_user, announced, fast_presence):
    user = make_user()
    uid = str(user.pk)
    presence_connect(user_id=uid, connection="a")
    presence_disconnect(user_id=uid, connection="a")
    time.sleep(0.4)
    barrier = threading.Barrier(8)
    results = []

    def sweep():
        barrier.wait()
        results.append(store.evaluate(user_id=uid)[0])

    threads = [threading.Thread(target=sweep) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results.count(True) == 1


def test_presence_of_many_users_keeps_the_order_asked(make_user):
    users = [make_user() for _ in range(3)]
    presence_connect(user_id=str(users[1].pk), connection="x")

    results = presence_get_many(user_ids=[str(u.pk) for u in reversed(users)])

    assert [r["user_id"] for r in results] == [str(u.pk) for u in reversed(users)]
    assert [r["status"] for r in results] == ["offline", "online", "offline"]


async def test_a_heartbeat_of_an_unknown_connection_is_reported_for_re_registration():
    store.connect(user_id="u-1", connection="known", ttl=30)

    unknown = await store.aheartbeat(connections=[("u-1", "known"), ("u-1", "swept")], ttl=30)

    assert unknown == [("u-1", "swept")]


def test_snapshot_copies_presence_into_the_table(make_user, fast_presence):
    online, offline, never = make_user(), make_user(), make_user()
    UserPresence.objects.create(user=never, status=UserPresence.Status.ONLINE)  # stale row
    presence_connect(user_id=str(online.pk), connection="a")
    presence_connect(user_id=str(offline.pk), connection="b")
    presence_disconnect(user_id=str(offline.pk), connection="b")
    time.sleep(0.4)

    call_command("snapshot_presence")

    rows = {str(row.user_id): row for row in UserPresence.objects.all()}
    assert rows[str(online.pk)].status == "ONLINE"
    assert rows[str(offline.pk)].status == "OFFLINE"
    assert rows[str(offline.pk)].last_seen_at is not None
    assert rows[str(never.pk)].status == "OFFLINE"
    assert presence_snapshot() == 2


def test_a_member_deactivated_in_one_workspace_is_not_announced_there(make_user, announced):
    """Deactivation "removes the user from this workspace's activity": B's channels and
    DMs no longer hear the person's presence (GET /presence in B reads them offline too),
    while A's still do."""
    from accounts.models import Workspace, WorkspaceMember
    from accounts.services import member_deactivate
    from tests.conftest import join_workspace

    bee = Workspace.objects.create(slug="bee", name="Bee")
    xavier, carol = make_user("xavier"), make_user("carol", workspace=bee, role="owner")
    join_workspace(xavier, bee)
    in_a = channel_services.channel_create(user=xavier, name="in-a")
    in_b = channel_services.channel_create(user=carol, workspace=bee, name="in-b")
    channel_services.channel_join(user=xavier, workspace=bee, channel_id=in_b.pk)
    dm_b, _ = dm_services.dm_open(user=carol, workspace=bee, other_user_id=xavier.pk)
    owner = WorkspaceMember.objects.get(workspace=bee, user=carol)
    owner.workspace = bee
    member_deactivate(by=owner, user_id=xavier.pk)

    presence_connect(user_id=str(xavier.pk), connection="conn-a")

    assert announced[0]["channel_ids"] == [str(in_a.pk)]
    assert str(dm_b.pk) not in announced[0]["conversation_ids"]
    assert presence_get_many(user_ids=[str(xavier.pk)], workspace=bee)[0]["status"] == "offline"


def test_deactivation_tells_that_workspace_the_member_is_offline_and_reactivation_tells_it_again(
    make_user, announced, django_capture_on_commit_callbacks
):
    """Since a deactivated member's presence no longer reaches the workspace, it hears a
    last `offline` (what GET /presence there reads), else its clients would show them
    online for good; reactivating announces their presence there again."""
    from accounts.models import Workspace, WorkspaceMember
    from accounts.services import member_deactivate, member_reactivate
    from tests.conftest import join_workspace

    bee = Workspace.objects.create(slug="bee", name="Bee")
    xavier, carol = make_user("xavier"), make_user("carol", workspace=bee, role="owner")
    join_workspace(xavier, bee)
    in_b = channel_services.channel_create(user=carol, workspace=bee, name="in-b")
    channel_services.channel_join(user=xavier, workspace=bee, channel_id=in_b.pk)
    dm_b, _ = dm_services.dm_open(user=carol, workspace=bee, other_user_id=xavier.pk)
    presence_connect(user_id=str(xavier.pk), connection="conn-a")
    announced.clear()
    owner = WorkspaceMember.objects.select_related("workspace").get(workspace=bee, user=carol)

    with django_capture_on_commit_callbacks(execute=True):
        member_deactivate(by=owner, user_id=xavier.pk)

    [withdrawn] = announced
    assert (withdrawn["user_id"], withdrawn["status"], withdrawn["last_seen_at"]) == (str(xavier.pk), "offline", None)
    assert withdrawn["channel_ids"] == [str(in_b.pk)] and withdrawn["conversation_ids"] == [str(dm_b.pk)]
    assert withdrawn["workspace_ids"] == [str(bee.pk)]
    announced.clear()

    with django_capture_on_commit_callbacks(execute=True):
        member_reactivate(by=owner, user_id=xavier.pk)

    [back] = announced
    assert back["status"] == "online" and str(in_b.pk) in back["channel_ids"]
    assert str(bee.pk) in back["workspace_ids"]
