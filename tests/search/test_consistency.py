"""The index follows the messages: found once acknowledged, by the new text after an
edit, never after a delete, a leave, a purge or the conversation's deletion; nothing
left by a failed send; never what the caller may not read. search_reindex and
check_consistency rebuild it."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from channels_app import services as channel_services
from messaging import services
from messaging.documents import Conversation, ConversationKind
from slackclone import errors
from tests.search.conftest import contents


def _entries(conversation_id=None) -> int:
    with connection.cursor() as cursor:
        if conversation_id is None:
            cursor.execute("SELECT count(*) FROM search_entries")
        else:
            cursor.execute("SELECT count(*) FROM search_entries WHERE conversation_id = %s", [str(conversation_id)])
        return cursor.fetchone()[0]


def test_found_at_once_by_new_text_after_edit_never_after_delete(alice, bob, channel, search, client_for):
    sent = client_for(alice).post(
        f"/api/v1/channels/{channel.pk}/messages", {"content": "quarterly numbers"}, format="json"
    )
    message_id = sent.json()["id"]
    assert contents(search(bob, "quarterly")) == ["quarterly numbers"]  # at once, no refresh
    edited = client_for(alice).patch(
        f"/api/v1/channels/{channel.pk}/messages/{message_id}", {"content": "yearly figures"}, format="json"
    )
    assert edited.status_code == 200
    assert contents(search(bob, "quarterly")) == []
    assert contents(search(bob, "yearly")) == ["yearly figures"]
    assert client_for(alice).delete(f"/api/v1/channels/{channel.pk}/messages/{message_id}").status_code == 204
    assert contents(search(bob, "yearly")) == []


def test_moderation_deletes_leave_search(alice, bob, staff, channel, search):
    message = services.message_send(sender=alice, channel_id=channel.pk, content="spam spam").message
    services.message_moderate_delete(kind=ConversationKind.CHANNEL, message_ids=[message.id], by=staff)
    assert contents(search(bob, "spam")) == []


def test_a_failed_send_leaves_nothing(alice, bob, channel, search, mongo_down):
    with pytest.raises(errors.StoreUnavailable):
        services.message_send(sender=alice, channel_id=channel.pk, content="lost in transit")
    mongo_down.restore()
    assert _entries() == 0
    assert contents(search(bob, "lost")) == []


def test_a_rolled_back_send_leaves_no_entry(alice, channel, monkeypatch):
    from realtime import broadcast

    def boom(**kwargs):
        raise KeyboardInterrupt  # escapes the send's own handlers: its transaction rolls back

    monkeypatch.setattr(broadcast, "message_created", boom)
    with pytest.raises(KeyboardInterrupt):
        services.message_send(sender=alice, channel_id=channel.pk, content="never committed")
    assert _entries() == 0


def test_after_leaving_a_channel_nothing_of_it_is_found(alice, bob, channel, search):
    services.message_send(sender=alice, channel_id=channel.pk, content="roadmap draft")
    assert contents(search(bob, "roadmap")) == ["roadmap draft"]
    channel_services.channel_leave(user=bob, channel_id=channel.pk)
    assert contents(search(bob, "roadmap")) == []
    assert contents(search(bob, "in:#general")) == []


def test_others_dms_and_channels_never_leak(alice, bob, make_user, make_channel, make_dm, search):
    eve = make_user("eve")
    secret = make_channel(alice, bob, name="secret")
    dm = make_dm(alice, bob)
    services.message_send(sender=alice, channel_id=secret.pk, content="password rotation")
    services.message_send(sender=alice, conversation_id=dm.pk, content="password for bob")
    assert len(contents(search(bob, "password"))) == 2
    for q in ("password", "in:#secret", "in:@alice", "from:@alice", "password in:@bob"):
        assert search(eve, q) == {"results": [], "next_cursor": None}


def test_another_workspace_sees_nothing(alice, bob, channel, search, make_user):
    from accounts.models import Workspace

    other = Workspace.objects.create(name="Other", slug="other")
    services.message_send(sender=alice, channel_id=channel.pk, content="merger plans")
    mallory = make_user("mallory", workspace=other)
    from tests.conftest import join_workspace, token_for

    join_workspace(bob, other)
    from rest_framework.test import APIClient

    for user in (mallory, bob):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, other)}")
        answer = client.get("/api/v1/search/messages", {"q": "merger"})
        assert answer.status_code == 200
        assert answer.json()["results"] == []


def test_channel_deletion_and_purge_drop_entries(
    alice, bob, staff, make_channel, search, django_capture_on_commit_callbacks
):
    doomed = make_channel(alice, bob, name="doomed")
    kept = make_channel(alice, bob, name="kept")
    services.message_send(sender=alice, channel_id=doomed.pk, content="doomed words")
    services.message_send(sender=alice, channel_id=kept.pk, content="kept words")
    with django_capture_on_commit_callbacks(execute=True):
        channel_services.channel_delete(channel=doomed, by=staff)
    assert _entries(doomed.pk) == 0
    assert contents(search(bob, "words")) == ["kept words"]
    services.messages_purge(older_than=timezone.now() + timedelta(seconds=1))
    assert _entries() == 0
    assert contents(search(bob, "words")) == []


def test_concurrent_sends_are_each_indexed_once(alice, bob, channel, search, transactional_db):
    barrier = threading.Barrier(8)
    failures = []

    def send(i):
        try:
            barrier.wait()
            services.message_send(sender=alice, channel_id=channel.pk, content=f"burst {i}")
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(contents(search(bob, "burst", limit=50))) == sorted(f"burst {i}" for i in range(8))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(seq ORDER BY seq) FROM search_entries WHERE conversation_id = %s", [str(channel.pk)]
        )
        assert cursor.fetchone()[0] == list(range(1, 9))


def test_search_reindex_rebuilds_resumes_and_check_consistency_fixes_drift(alice, bob, channel, search, capsys):
    for i in range(25):
        services.message_send(sender=alice, channel_id=channel.pk, content=f"log line {i}")
    deleted = services.message_send(sender=alice, channel_id=channel.pk, content="log line gone").message
    services.message_delete(user=alice, channel_id=channel.pk, message_id=deleted.id)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM search_entries")
    assert contents(search(bob, "log")) == []
    with pytest.raises(Exception, match="problem"):
        call_command("check_consistency")
    assert "search index disagrees with MongoDB: 1" in capsys.readouterr().out
    # An interrupted run: progress is kept per batch, and the next run continues.
    from search import services as search_services

    conversation = Conversation(ConversationKind.CHANNEL, str(channel.pk), str(channel.workspace_id))
    calls = []

    def stop_after_first(n):
        calls.append(n)
        if len(calls) == 1:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        search_services.reindex_conversation(conversation, progress=stop_after_first, batch_size=10)
    assert _entries() == 10
    call_command("search_reindex", "--conversation", str(channel.pk), "--batch-size", "10")
    assert _entries() == 26
    assert len(contents(search(bob, "log", limit=100))) == 25  # the deleted one stays unfound
    call_command("check_consistency")  # consistent now
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM search_entries WHERE content = 'log line 3'")
        cursor.execute("UPDATE search_entries SET deleted_at = NULL WHERE content = 'log line gone'")
    with pytest.raises(Exception, match="problem"):
        call_command("check_consistency")
    call_command("check_consistency", "--fix")
    call_command("check_consistency")
    assert len(contents(search(bob, "log", limit=100))) == 25


def test_the_moderation_text_filter_uses_the_engine(alice, bob, channel, staff_client):
    services.message_send(sender=alice, channel_id=channel.pk, content="Ünïcödé naïve résumé")
    services.message_send(sender=alice, channel_id=channel.pk, content="something else")
    from messaging.selectors import MessageFilter, message_search

    page = message_search(filters=MessageFilter(kind=ConversationKind.CHANNEL, text="RESUME"))
    assert [m.content for m in page.results] == ["Ünïcödé naïve résumé"]


def test_an_import_of_thousands_is_indexed_and_counted_with_server_side_binding(
    transactional_db, server_side_binding, alice, bob, channel, search
):
    """An import batch (seed_demo's default is 10,000) is written in statements of at
    most ROWS_PER_STATEMENT rows: 5,000 search rows in one upsert are 70,000 parameters,
    over PostgreSQL's 65,535 when they are bound on the server."""
    from messaging.services import MessageDraft
    from readstate.models import UnreadEntry

    conversation = Conversation(ConversationKind.CHANNEL, str(channel.pk), str(channel.workspace_id))
    drafts = [MessageDraft(str(alice.pk), f"imported {n}") for n in range(5000)]
    drafts[4321] = MessageDraft(str(alice.pk), "the needle 4321")
    services.messages_import(conversation=conversation, drafts=drafts)
    assert _entries(channel.pk) == 5000
    assert UnreadEntry.objects.filter(conversation_id=channel.pk).count() == 5000
    # And found by a search (its statement timeout is set with a parameter: SET LOCAL
    # takes none when the server binds).
    assert contents(search(bob, "needle")) == ["the needle 4321"]


class _BackendWithoutStatements:
    """A backend written against the interface before `index_statements` (an outside
    engine's): every method of the PostgreSQL one but that."""

    def __init__(self):
        from search.backends.postgres import PostgresSearchBackend

        self._real = PostgresSearchBackend()

    def __getattr__(self, name):
        if name == "index_statements":
            raise AttributeError(name)
        return getattr(self._real, name)


def test_a_backend_without_index_statements_is_written_with_index_messages(alice, bob, channel, search, settings):
    from search.backends import get_backend

    settings.SEARCH_BACKEND = f"{__name__}._BackendWithoutStatements"
    get_backend.cache_clear()
    try:
        assert not hasattr(get_backend(), "index_statements")
        services.message_send(sender=alice, channel_id=channel.pk, content="written the old way")
        assert contents(search(bob, "old way")) == ["written the old way"]
    finally:
        get_backend.cache_clear()


def test_a_group_dm_result_names_its_kind_as_the_sidebar_does(alice, bob, dm, group_dm, search, client_for):
    """A result's `conversation.kind` is where a client finds the conversation: a group
    DM's is `group_dm` (under /group-dms/{id}/; /dms/{id} is 404 for it), a DM's `dm`."""
    services.message_send(sender=alice, content="quarterly numbers in the group", conversation_id=group_dm.pk)
    services.message_send(sender=alice, content="quarterly numbers for you", conversation_id=dm.pk)
    kinds = {result["message"]["content"]: result["conversation"] for result in search(bob, "quarterly")["results"]}
    assert kinds["quarterly numbers in the group"] == {"kind": "group_dm", "id": str(group_dm.pk), "name": None}
    assert kinds["quarterly numbers for you"] == {"kind": "dm", "id": str(dm.pk), "name": None}
    sidebar = client_for(bob).get("/api/v1/conversations").json()["results"]
    assert {(row["kind"], row["id"]) for row in sidebar} == {("group_dm", str(group_dm.pk)), ("dm", str(dm.pk))}
    prefix = {"channel": "/channels/", "dm": "/dms/", "group_dm": "/group-dms/"}
    for conversation in kinds.values():
        path = f"/api/v1{prefix[conversation['kind']]}{conversation['id']}/messages"
        assert client_for(bob).get(path).status_code == 200
