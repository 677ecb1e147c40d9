"""Threads (contract: "Threads"; issue 17): replies share the conversation's seq, the
root's counters are exact under concurrency, tombstones, thread.updated, following."""

import pytest
from bson import ObjectId

from messaging import repositories_ext as ext
from messaging import repositories_places, services
from messaging.repositories import repository_for
from tests.helpers import capture_broadcasts
from tests.messaging.support import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def where(where_all):
    """Each test in a channel, a DM and a group DM (issue 16): threads, reactions,
    mentions and pins work in a group DM exactly as in a DM."""
    return where_all


def _send(where, user, content="hi", **extra):
    return services.message_send(sender=user, **where.kwargs, content=content, **extra).message


def _root(where, root_id):
    return repository_for(where.conversation.kind).get(
        conversation_id=where.pk, message_id=root_id, include_deleted=True
    )


def test_a_reply_takes_the_next_seq_and_history_pages_cover_it(where, alice, bob, client_for):
    root = _send(where, alice, "root")
    reply = _send(where, bob, "reply", thread_id=root.id)
    after = _send(where, alice, "after")
    assert (root.seq, reply.seq, after.seq) == (root.seq, root.seq + 1, root.seq + 2)

    client = client_for(alice)
    full = client.get(where.url).json()["results"]
    assert [m["id"] for m in full][-3:] == [root.id, reply.id, after.id]
    assert full[-2]["thread_id"] == root.id and full[-2]["also_in_channel"] is False
    assert "reply_count" not in full[-2]
    assert full[-3]["reply_count"] == 1 and full[-3]["reply_users"] == [str(bob.pk)]
    assert full[-3]["last_reply_at"] == full[-2]["created_at"]

    view = client.get(where.url, {"thread_roots_only": "true"}).json()["results"]
    assert reply.id not in [m["id"] for m in view] and after.id in [m["id"] for m in view]

    also = _send(where, bob, "also", thread_id=root.id, also_in_channel=True)
    view = client.get(where.url, {"thread_roots_only": "true"}).json()["results"]
    assert also.id in [m["id"] for m in view]
    assert client.get(where.url, {"thread_roots_only": "maybe"}).status_code == 400


def test_replies_page_with_the_same_cursors(where, alice, bob, client_for):
    root = _send(where, alice, "root")
    replies = [_send(where, bob if n % 2 else alice, f"r{n}", thread_id=root.id) for n in range(5)]
    _send(where, alice, "unrelated")
    client = client_for(alice)
    url = f"{where.url}/{root.id}/replies"

    page = client.get(url, {"limit": 2}).json()
    assert [m["id"] for m in page["results"]] == [r.id for r in replies[3:]]
    assert page["has_more"] is True
    older = client.get(url, {"limit": 2, "before": page["before_cursor"]}).json()
    assert [m["id"] for m in older["results"]] == [r.id for r in replies[1:3]]
    newer = client.get(url, {"after": page["after_cursor"]}).json()
    assert newer["results"] == [] and newer["has_more"] is False
    late = _send(where, bob, "late", thread_id=root.id)
    assert [m["id"] for m in client.get(url, {"after": page["after_cursor"]}).json()["results"]] == [late.id]

    lonely = _send(where, alice, "no replies")
    answer = client.get(f"{where.url}/{lonely.id}/replies").json()
    assert answer["results"] == []
    assert client.get(f"{where.url}/{replies[0].id}/replies").status_code == 404  # a reply is no root
    assert client.get(f"{where.url}/{'0' * 24}/replies").status_code == 404
    assert client.get(f"{where.url}/nope/replies").status_code == 404


def test_a_replies_page_reads_its_root_once_and_checks_it_only_when_empty(where, alice, bob, client_for, monkeypatch):
    """The thread view reads its root once, for the thread's last place (session 14:
    `lastThreadSeq` bounds its blocks), and never through thread_root_get: a page with
    replies proves its root; an empty one is a 404 unless it names a root."""
    from messaging import repositories_ext, threads

    root = _send(where, alice, "root")
    reply = _send(where, bob, "r", thread_id=root.id)
    lonely = _send(where, alice, "lonely")
    checked, reads = [], []
    real, real_read = threads.thread_root_get, repositories_ext.get_visible
    monkeypatch.setattr(threads, "thread_root_get", lambda **kw: checked.append(kw["root_id"]) or real(**kw))
    monkeypatch.setattr(
        repositories_ext, "get_visible", lambda repo, **kw: reads.append(kw["message_id"]) or real_read(repo, **kw)
    )
    client = client_for(alice)
    assert [m["id"] for m in client.get(f"{where.url}/{root.id}/replies").json()["results"]] == [reply.id]
    assert reads == [root.id]
    assert client.get(f"{where.url}/{lonely.id}/replies").json()["results"] == []
    assert client.get(f"{where.url}/{reply.id}/replies").status_code == 404
    assert checked == []
    assert reads == [root.id, lonely.id, reply.id]


@pytest.mark.parametrize("case", ["unknown", "malformed", "reply", "deleted", "system", "other_conversation"])
def test_invalid_thread_roots_are_400(where, alice, bob, make_channel, client_for, case):
    root = _send(where, alice, "root")
    other = make_channel(alice)
    thread_id = {
        "unknown": "0" * 24,
        "malformed": "xyz",
        "reply": lambda: _send(where, bob, "r", thread_id=root.id).id,
        "deleted": lambda: (services.message_delete(user=alice, message_id=root.id, **where.kwargs), root.id)[1],
        "system": lambda: services.system_message_post(channel_id=other.pk, content="x").id,
        "other_conversation": lambda: services.message_send(sender=alice, channel_id=other.pk, content="o").message.id,
    }[case]
    thread_id = thread_id() if callable(thread_id) else thread_id
    response = client_for(alice).post(where.url, {"content": "x", "thread_id": thread_id}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_thread"


def test_also_in_channel_without_thread_is_400(where, alice, client_for):
    response = client_for(alice).post(where.url, {"content": "x", "also_in_channel": True}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_thread"


def test_reply_users_are_the_five_most_recent_repliers_most_recent_first(where, alice, bob, make_user, channel, dm):
    root = _send(where, alice, "root")
    if where.kind == "channel":
        from channels_app.models import ChannelMember

        others = [make_user() for _ in range(5)]
        for user in others:
            ChannelMember.objects.create(channel=channel, user=user)
        order = [alice, bob, *others, bob]
    else:
        order = [alice, bob, alice, bob]
    for user in order:
        _send(where, user, "r", thread_id=root.id)
    stored = _root(where, root.id)
    expected = list(dict.fromkeys(str(u.pk) for u in reversed(order)))[:5]
    assert list(stored.reply_users) == expected
    assert stored.reply_count == len(order)


def test_deleting_a_reply_lowers_the_counts_and_announces_thread_updated(where, alice, bob):
    root = _send(where, alice, "root")
    first = _send(where, alice, "r1", thread_id=root.id)
    second = _send(where, bob, "r2", thread_id=root.id)
    with capture_broadcasts() as captured:
        services.message_delete(user=bob, message_id=second.id, **where.kwargs)
    stored = _root(where, root.id)
    assert stored.reply_count == 1
    assert list(stored.reply_users) == [str(alice.pk)]
    assert stored.last_reply_at == first.created_at
    assert captured.names == ["message_deleted", "conversation_event"]
    event = captured.of("conversation_event")[0]
    assert event["event_type"] == "thread.updated"
    assert event["fields"] == {
        where.api_field: where.pk,
        "root_id": root.id,
        "reply_count": 1,
        "reply_users": [str(alice.pk)],
        "last_reply_at": event["fields"]["last_reply_at"],
    }


def test_a_reply_announces_message_created_then_thread_updated(where, alice, bob):
    root = _send(where, alice, "root")
    with capture_broadcasts() as captured:
        reply = _send(where, bob, "r", thread_id=root.id)
    assert [n for n in captured.names if n != "user_events"] == ["message_created", "conversation_event"]
    assert captured.of("message_created")[0]["message"]["id"] == reply.id
    fields = captured.of("conversation_event")[0]["fields"]
    assert (fields["root_id"], fields["reply_count"], fields["reply_users"]) == (root.id, 1, [str(bob.pk)])


def test_an_idempotent_retry_of_a_reply_counts_once(where, alice, bob):
    root = _send(where, alice, "root")
    for _ in range(3):
        _send(where, bob, "r", thread_id=root.id, client_msg_id="same")
    assert _root(where, root.id).reply_count == 1


def test_a_deleted_root_with_replies_is_a_tombstone_and_without_replies_disappears(where, alice, bob, client_for):
    root = _send(where, alice, "root with replies")
    reply = _send(where, bob, "r", thread_id=root.id)
    lonely = _send(where, alice, "no replies")
    with capture_broadcasts() as captured:
        services.message_delete(user=alice, message_id=root.id, **where.kwargs)
        services.message_delete(user=alice, message_id=lonely.id, **where.kwargs)
    # The tombstone is announced as an update, the other as a deletion.
    assert [m["message"]["id"] for m in captured.of("message_updated")] == [root.id]
    assert [m["message_id"] for m in captured.of("message_deleted")] == [lonely.id]
    client = client_for(bob)
    history = {m["id"]: m for m in client.get(where.url).json()["results"]}
    assert lonely.id not in history
    tombstone = history[root.id]
    assert tombstone["deleted"] is True and tombstone["content"] == "" and tombstone["reply_count"] == 1
    # The thread stays reachable.
    replies = client.get(f"{where.url}/{root.id}/replies").json()["results"]
    assert [m["id"] for m in replies] == [reply.id]
    # A tombstone takes no new reply, no edit, no second delete.
    assert client.post(where.url, {"content": "x", "thread_id": root.id}, format="json").status_code == 400
    assert client_for(alice).delete(f"{where.url}/{root.id}").status_code == 404
    # Its last reply gone, the tombstone disappears too (announced).
    with capture_broadcasts() as captured:
        services.message_delete(user=bob, message_id=reply.id, **where.kwargs)
    assert [m["message_id"] for m in captured.of("message_deleted")] == [reply.id, root.id]
    assert root.id not in [m["id"] for m in client.get(where.url).json()["results"]]


def test_concurrent_replies_and_deletes_keep_the_counts_exact(where, alice, bob):
    """Replies sent while others are deleted: the final count equals the visible replies."""
    root = _send(where, alice, "root")
    early = [_send(where, bob, f"early {n}", thread_id=root.id) for n in range(6)]

    def work(index):
        if index % 2:
            services.message_delete(user=bob, message_id=early[index].id, **where.kwargs)
        else:
            _send(where, alice if index % 4 else bob, f"new {index}", thread_id=root.id)

    run_in_threads(12, lambda i: work(i) if i < 6 else _send(where, alice, f"more {i}", thread_id=root.id))
    repo = repository_for(where.conversation.kind)
    stored = _root(where, root.id)
    visible = ext.replies_count(repo, conversation_id=where.pk, root_id=root.id)
    assert stored.reply_count == visible == 6 - 3 + 3 + 6


def test_a_root_deleted_while_replies_arrive_ends_consistent(where, alice, bob):
    """Either the replies were refused (400) or they count and the root is a tombstone."""
    for _round in range(3):
        root = _send(where, alice, "root")

        def work(index, root=root):
            if index == 0:
                services.message_delete(user=alice, message_id=root.id, **where.kwargs)
                return "deleted"
            try:
                _send(where, bob, f"r{index}", thread_id=root.id)
                return "replied"
            except Exception as exc:  # invalid_thread once the root is gone
                assert getattr(exc, "code", None) == "invalid_thread", exc
                return "refused"

        outcomes = run_in_threads(5, work)
        repo = repository_for(where.conversation.kind)
        stored = _root(where, root.id)
        visible = ext.replies_count(repo, conversation_id=where.pk, root_id=root.id)
        assert stored.reply_count == visible == outcomes.count("replied")
        assert stored.is_deleted
        shown = ext.get_visible(repo, conversation_id=where.pk, message_id=root.id)
        assert (shown is not None) == (visible > 0)


def test_followers_threads_list_and_unfollow(where, alice, bob, client_for):
    root = _send(where, alice, "root")
    client_a, client_b = client_for(alice), client_for(bob)
    assert client_a.get("/api/v1/threads").json()["results"] == []  # no replies yet
    _send(where, bob, "r1", thread_id=root.id)
    other = _send(where, bob, "other root")
    _send(where, alice, f"hey <@{bob.pk}>", thread_id=other.id)

    listed = client_a.get("/api/v1/threads").json()
    assert [t["root"]["id"] for t in listed["results"]] == [other.id, root.id]  # newest reply first
    # Issue 18: alice wrote the only reply of `other` (none unread), her thread marker was never set (0).
    assert listed["results"][0]["unread_replies"] == 0 and listed["results"][0]["last_read_seq"] == 0
    assert listed["results"][1]["unread_replies"] == 1
    assert [t["root"]["id"] for t in client_b.get("/api/v1/threads").json()["results"]] == [other.id, root.id]

    assert client_a.delete(f"{where.url}/{root.id}/follow").json() == {"root_id": root.id, "following": False}
    assert client_a.delete(f"{where.url}/{root.id}/follow").status_code == 200  # idempotent
    assert [t["root"]["id"] for t in client_a.get("/api/v1/threads").json()["results"]] == [other.id]
    _send(where, bob, "r2", thread_id=root.id)  # someone else's reply does not re-follow alice
    assert [t["root"]["id"] for t in client_a.get("/api/v1/threads").json()["results"]] == [other.id]
    assert client_a.put(f"{where.url}/{root.id}/follow").json()["following"] is True
    assert [t["root"]["id"] for t in client_a.get("/api/v1/threads").json()["results"]] == [root.id, other.id]
    assert client_a.put(f"{where.url}/{'0' * 24}/follow").status_code == 404
    assert client_a.get("/api/v1/threads", {"limit": 1}).json()["next_cursor"]


def test_a_reply_deleted_before_it_is_counted_is_never_counted(where, alice, bob, monkeypatch):
    """The delete takes the lock between the reply's insert and its counting."""
    from messaging import threads

    root = _send(where, alice, "root")
    original = threads.after_send

    def delete_first(*, message):
        services.message_delete(user=bob, message_id=message.id, **where.kwargs)
        original(message=message)

    monkeypatch.setattr(threads, "after_send", delete_first)
    _send(where, bob, "gone at once", thread_id=root.id)
    monkeypatch.setattr(threads, "after_send", original)
    _send(where, bob, "stays", thread_id=root.id)
    repo = repository_for(where.conversation.kind)
    assert _root(where, root.id).reply_count == ext.replies_count(repo, conversation_id=where.pk, root_id=root.id) == 1


def test_deleting_replies_reorders_the_threads_list_and_a_thread_without_replies_leaves_it(
    where, alice, bob, client_for
):
    """GET /threads: newest *visible* reply first, and only threads that have one."""
    first, second = _send(where, alice, "first"), _send(where, alice, "second")
    early = _send(where, bob, "early", thread_id=first.id)
    _send(where, bob, "middle", thread_id=second.id)
    late = _send(where, bob, "late", thread_id=first.id)
    client = client_for(alice)
    assert [t["root"]["id"] for t in client.get("/api/v1/threads").json()["results"]] == [first.id, second.id]

    services.message_delete(user=bob, message_id=late.id, **where.kwargs)
    assert [t["root"]["id"] for t in client.get("/api/v1/threads").json()["results"]] == [second.id, first.id]
    services.message_delete(user=bob, message_id=early.id, **where.kwargs)
    assert [t["root"]["id"] for t in client.get("/api/v1/threads").json()["results"]] == [second.id]


def test_a_tombstone_shows_no_files_and_no_pin_of_the_deleted_root(where, alice, bob, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from files import services as file_services
    from messaging import pins

    secret = SimpleUploadedFile("secret-plan.txt", b"secret")
    upload = file_services.file_upload(user=alice, workspace=None, uploaded=secret)
    root = _send(where, alice, "root with a file", file_ids=[str(upload.pk)])
    pins.message_pin_set(user=bob, message_id=root.id, pinned=True, **where.kwargs)
    _send(where, bob, "r", thread_id=root.id)
    with capture_broadcasts() as captured:
        services.message_delete(user=alice, message_id=root.id, **where.kwargs)
    [announced] = [m["message"] for m in captured.of("message_updated")]
    client = client_for(bob)
    shown = {m["id"]: m for m in client.get(where.url).json()["results"]}[root.id]
    [listed] = [t["root"] for t in client.get("/api/v1/threads").json()["results"]]
    for tombstone in (announced, shown, listed):
        assert tombstone["deleted"] is True and tombstone["content"] == ""
        assert tombstone["files"] == [] and tombstone["pinned_at"] is None and tombstone["pinned_by"] is None
    assert client.get(f"{where.url.rsplit('/messages', 1)[0]}/pins").json()["results"] == []


def test_whoever_an_edit_newly_mentions_in_a_thread_follows_it(where, alice, bob, client_for):
    """Mentions are computed again at edit, and everyone mentioned in a thread follows it."""
    root = _send(where, alice, "root")
    reply = _send(where, alice, "a reply of her own", thread_id=root.id)
    client = client_for(bob)
    assert client.get("/api/v1/threads").json()["results"] == []
    services.message_edit(user=alice, message_id=reply.id, content=f"<@{bob.pk}> look", **where.kwargs)
    assert [t["root"]["id"] for t in client.get("/api/v1/threads").json()["results"]] == [root.id]
    # Mentioned in an edit of the root once it has replies: the same.
    other = _send(where, alice, "other root")
    _send(where, alice, "r", thread_id=other.id)
    services.message_edit(user=alice, message_id=other.id, content=f"other root, @{bob.username}", **where.kwargs)
    assert [t["root"]["id"] for t in client.get("/api/v1/threads").json()["results"]] == [other.id, root.id]


def test_a_late_mention_makes_that_reply_and_the_later_ones_unread_not_the_earlier(where, alice, bob, client_for):
    """A user who starts following a thread because a reply mentions them has their
    thread marker start just before that reply (as a new member's starts at the newest
    seq), so a long thread does not show them replies they were never part of as unread."""
    root = _send(where, alice, "root")
    for n in range(3):
        _send(where, alice, f"r{n}", thread_id=root.id)
    mention = _send(where, alice, f"over to you <@{bob.pk}>", thread_id=root.id)
    _send(where, alice, "one more", thread_id=root.id)
    client = client_for(bob)

    [listed] = client.get("/api/v1/threads").json()["results"]
    assert (listed["unread_replies"], listed["last_read_seq"]) == (2, mention.seq - 1)
    assert client.get("/api/v1/unreads").json()["threads_with_unread_replies"] == 1
    # The same when an edit mentions them: unread from the edited reply on.
    other = _send(where, alice, "other root")
    first = _send(where, alice, "first", thread_id=other.id)
    _send(where, alice, "second", thread_id=other.id)
    services.message_edit(user=alice, message_id=first.id, content=f"first, <@{bob.pk}>", **where.kwargs)
    listed = {t["root"]["id"]: t for t in client.get("/api/v1/threads").json()["results"]}
    assert (listed[other.id]["unread_replies"], listed[other.id]["last_read_seq"]) == (2, first.seq - 1)


def test_a_follower_mentioned_later_keeps_every_unread_reply(where, alice, bob, client_for):
    """Only a new follower's marker starts at the mention: one who followed already (the
    root's author, a replier) keeps theirs (none: every reply of others is unread)."""
    root = _send(where, bob, "root by bob")
    for n in range(3):
        _send(where, alice, f"r{n}", thread_id=root.id)
    _send(where, alice, f"<@{bob.pk}> see above", thread_id=root.id)

    [listed] = client_for(bob).get("/api/v1/threads").json()["results"]
    assert (listed["unread_replies"], listed["last_read_seq"]) == (4, 0)


def test_a_late_mention_counted_after_a_later_one_still_starts_the_marker_before_it(
    where, alice, bob, client_for, monkeypatch
):
    """A reply with files is stored, then counted in its own step (threads.after_send);
    a later reply mentioning the same new follower may be counted in between. The
    marker must still start before the earlier mention (it was set just before the
    later one: the earlier reply, which mentions them, counted as read)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from files import services as file_services
    from messaging import threads

    root = _send(where, alice, "root")
    for n in range(3):
        _send(where, alice, f"r{n}", thread_id=root.id)
    upload = file_services.file_upload(user=alice, workspace=None, uploaded=SimpleUploadedFile("a.txt", b"a"))
    real_after_send = threads.after_send
    monkeypatch.setattr(threads, "after_send", lambda *, message: None)  # its count comes later
    with_file = _send(where, alice, f"<@{bob.pk}> see the file", thread_id=root.id, file_ids=[str(upload.pk)])
    monkeypatch.setattr(threads, "after_send", real_after_send)
    _send(where, alice, f"<@{bob.pk}> and this", thread_id=root.id)  # counted first
    real_after_send(message=with_file)

    [listed] = client_for(bob).get("/api/v1/threads").json()["results"]
    assert (listed["unread_replies"], listed["last_read_seq"]) == (2, with_file.seq - 1)


@pytest.mark.parametrize("pad", [" {}", "{} ", "{}\n", "", True, 5, ["{}"], {"id": "{}"}])
def test_a_bad_thread_id_is_refused_by_rest_as_by_message_send(where, alice, client_for, pad):
    """What message.send refuses, REST refuses too, with the same code: the socket takes
    the id as given (a padded id, "", a number, `true`, a list or an object)."""
    root = _send(where, alice, "root")
    value = pad.format(root.id) if isinstance(pad, str) else pad
    answer = client_for(alice).post(where.url, {"content": "r", "thread_id": value}, format="json")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_thread", answer.json()
    from slackclone import errors

    with pytest.raises(errors.ValidationFailed) as refused:  # the service message.send calls
        _send(where, alice, "r", thread_id=value)
    assert refused.value.code == "invalid_thread"


def _late(monkeypatch, module, name, action, *, after=False):
    """Run `action` in another thread when `module.name` is called (`after`: once it
    returned), and let the caller go on once that thread is done or has waited 2 s
    (blocked on the conversation's lock): a concurrent write landing in the window
    between a delete's write and what runs then."""
    import concurrent.futures

    from tests.messaging.support import in_thread

    original = getattr(module, name)
    pool = concurrent.futures.ThreadPoolExecutor(1)
    started = []

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs) if after else None
        if not started:
            started.append(in_thread(pool, action))
            concurrent.futures.wait(started, timeout=2)
        return result if after else original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return lambda: [future.result(timeout=30) for future in started]


def test_thread_updated_events_end_with_the_stored_counts_when_a_reply_lands_during_a_delete(
    where, alice, bob, monkeypatch
):
    """A client applying thread.updated in arrival order must end with the stored counts:
    a reply counted right after another reply's delete was written must not be followed
    by the delete's older thread.updated (reply_count 0 while the thread has a reply)."""
    from messaging import threads

    root = _send(where, alice, "root")
    first = _send(where, bob, "r1", thread_id=root.id)
    with capture_broadcasts() as captured:
        finish = _late(
            monkeypatch, threads, "after_reply_removed", lambda: _send(where, alice, "r2", thread_id=root.id)
        )
        services.message_delete(user=bob, message_id=first.id, **where.kwargs)
        finish()
    stored = _root(where, root.id)
    assert stored.reply_count == 1
    updates = [e["fields"] for e in captured.of("conversation_event") if e["event_type"] == "thread.updated"]
    assert (updates[-1]["reply_count"], updates[-1]["reply_users"]) == (1, [str(alice.pk)])


def test_a_tombstone_whose_last_reply_goes_during_its_delete_is_announced_gone_last(where, alice, bob, monkeypatch):
    """The root is deleted (a tombstone: it has a reply) and, before that is announced,
    its last reply is deleted (the tombstone disappears: message.deleted). The root's
    tombstone message.updated must not arrive after its message.deleted: a client would
    show a tombstone that history no longer has."""
    from messaging.services import delete

    root = _send(where, alice, "root")
    reply = _send(where, bob, "r1", thread_id=root.id)
    with capture_broadcasts() as captured:
        finish = _late(
            monkeypatch,
            delete,
            "_after_deletes",
            lambda: services.message_delete(user=bob, message_id=reply.id, **where.kwargs),
        )
        services.message_delete(user=alice, message_id=root.id, **where.kwargs)
        finish()
    assert _root(where, root.id).reply_count == 0  # gone from history
    about_root = [
        name
        for name, kwargs in captured.calls
        if (name == "message_updated" and kwargs["message"]["id"] == root.id)
        or (name == "message_deleted" and kwargs["message_id"] == root.id)
    ]
    assert about_root[-1] == "message_deleted", about_root


def test_a_root_deleted_before_its_first_reply_is_counted_is_announced_back_as_a_tombstone(
    where, alice, bob, monkeypatch
):
    """The root had no reply when it was deleted (announced with message.deleted), then a
    reply already on its way (its root checked) is stored and counted: the root is back
    in history as a tombstone, so sockets must hear it (message.updated with the
    tombstone) before thread.updated names it."""
    from messaging import threads

    root = _send(where, alice, "root")
    original = threads.send_fields

    def root_deleted_after_the_check(**kwargs):
        fields = original(**kwargs)
        if kwargs["thread_id"] is not None:
            services.message_delete(user=alice, message_id=root.id, **where.kwargs)
        return fields

    monkeypatch.setattr(threads, "send_fields", root_deleted_after_the_check)
    with capture_broadcasts() as captured:
        _send(where, bob, "on its way", thread_id=root.id)
    assert _root(where, root.id).reply_count == 1  # a tombstone in history
    about_root = [
        (name, kwargs["message"].get("deleted") if name == "message_updated" else None)
        for name, kwargs in captured.calls
        if (name == "message_updated" and kwargs["message"]["id"] == root.id)
        or (name == "message_deleted" and kwargs["message_id"] == root.id)
        or (name == "conversation_event" and kwargs["fields"].get("root_id") == root.id)
    ]
    assert about_root == [("message_deleted", None), ("message_updated", True), ("conversation_event", None)]


def test_a_follow_made_while_the_first_reply_lands_lists_the_thread(where, alice, bob, client_for, monkeypatch):
    """Bob follows alice's root (no replies yet) while her first reply is being counted:
    his follow row must carry the thread's newest reply time, else GET /threads leaves
    the thread out (it lists threads with a reply) until someone replies again."""
    from messaging import threads

    root = _send(where, alice, "root")
    finish = _late(
        monkeypatch, threads, "thread_root_get", lambda: _send(where, alice, "r1", thread_id=root.id), after=True
    )
    assert client_for(bob).put(f"{where.url}/{root.id}/follow").status_code == 200
    finish()
    listed = client_for(bob).get("/api/v1/threads").json()["results"]
    assert [t["root"]["id"] for t in listed] == [root.id]


# --- A reply's place in its thread (session 14: the thread page's blocks) --------------


def _places(where, root_id) -> list[tuple[int, int | None, str | None]]:
    """(seq, threadSeq, threadBlock) of the root's stored replies, deleted ones too, in seq order."""
    repo = repository_for(where.conversation.kind)
    stored = repo.collection.find({repo.conversation_field: where.pk, "threadId": root_id})
    return sorted((int(raw["seq"]), raw.get("threadSeq"), raw.get("threadBlock")) for raw in stored)


def test_concurrent_replies_to_two_threads_get_their_places_in_seq_order(where, alice, bob, client_for):
    """Replies sent at once by 12 threads (the group commit puts several in one batch, of
    both threads): each thread's places are 1..n, in seq order, without a repeat, and
    its root's lastThreadSeq is n; every page of the thread, read by its blocks, is what
    the stored replies say."""
    from messaging.repositories import thread_block

    roots = [_send(where, alice, "root a"), _send(where, alice, "root b")]
    run_in_threads(12, lambda i: [_send(where, bob, f"r{i}.{n}", thread_id=roots[i % 2].id) for n in range(4)])
    client = client_for(alice)
    for root in roots:
        places = _places(where, root.id)
        assert [place for _seq, place, _block in places] == list(range(1, 25))
        assert [block for _seq, place, block in places] == [thread_block(root.id, place) for _s, place, _b in places]
        assert _root(where, root.id).last_thread_seq == 24
        url, seqs, pages = f"{where.url}/{root.id}/replies", [seq for seq, _p, _b in places], []
        pages.append(client.get(url, {"limit": 7}).json())
        while pages[-1]["has_more"]:
            pages.append(client.get(url, {"limit": 7, "before": pages[-1]["before_cursor"]}).json())
        assert [m["seq"] for page in reversed(pages) for m in page["results"]] == seqs


def test_a_thread_stored_before_places_existed_is_read_by_keyset_until_the_backfill_numbers_it(
    where, alice, bob, client_for
):
    """Upgrade: replies stored without threadSeq (and a root without lastThreadSeq) keep
    being read by keyset, and new replies get no place (numbering a long thread in the
    send would hold the lock for seconds), until `backfill_seq_blocks` numbers them all
    1..n in seq order, deleted ones too. A new thread is numbered from its first reply."""
    import io

    from django.core.management import call_command

    root = _send(where, alice, "root")
    old = [_send(where, bob, f"old {n}", thread_id=root.id) for n in range(5)]
    services.message_delete(user=bob, message_id=old[1].id, **where.kwargs)
    repo = repository_for(where.conversation.kind)
    repo.collection.update_many({repo.conversation_field: where.pk}, {"$unset": {"threadSeq": "", "threadBlock": ""}})
    repo.collection.update_many({repo.conversation_field: where.pk}, {"$unset": {"lastThreadSeq": ""}})
    client = client_for(alice)
    url = f"{where.url}/{root.id}/replies"
    live = [m.id for m in old if m is not old[1]]

    new = _send(where, alice, "new", thread_id=root.id)

    assert [place for _seq, place, _block in _places(where, root.id)] == [None] * 6
    assert _root(where, root.id).last_thread_seq is None and _root(where, root.id).reply_count == 5
    assert [m["id"] for m in client.get(url).json()["results"]] == [*live, new.id]

    call_command("backfill_seq_blocks", stdout=io.StringIO())

    assert [place for _seq, place, _block in _places(where, root.id)] == [1, 2, 3, 4, 5, 6]
    assert _root(where, root.id).last_thread_seq == 6
    later = _send(where, bob, "later", thread_id=root.id)
    assert [place for _seq, place, _block in _places(where, root.id)] == [1, 2, 3, 4, 5, 6, 7]
    assert [m["id"] for m in client.get(url).json()["results"]] == [*live, new.id, later.id]
    fresh = _send(where, alice, "fresh root")
    _send(where, bob, "first", thread_id=fresh.id)
    assert [place for _seq, place, _block in _places(where, fresh.id)] == [1]


def test_a_reply_whose_root_went_before_the_batch_is_stored_without_a_place(where, alice, bob, monkeypatch):
    """The root purged between the send's check and its batch: the reply is stored (as
    before session 14) without a place; the root's thread is then read by keyset."""
    root = _send(where, alice, "root")
    repo = repository_for(where.conversation.kind)
    real = repositories_places.thread_seqs_reserve

    def purge_first(repo_, **kwargs):
        repo.collection.delete_one({"_id": ObjectId(kwargs["root_id"])})
        return real(repo_, **kwargs)

    monkeypatch.setattr(repositories_places, "thread_seqs_reserve", purge_first)
    reply = _send(where, bob, "orphan", thread_id=root.id)

    assert _places(where, root.id) == [(reply.seq, None, None)]
