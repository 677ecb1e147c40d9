"""Read markers (issue 18): forward only, clamped, per device races, new members,
threads, preferences and GET /unreads."""

import pytest

from messaging import services
from tests.messaging.support import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def _send(where, user, content="hi", **extra):
    return services.message_send(sender=user, **where.kwargs, content=content, **extra).message


def _read_url(where):
    return where.url.rsplit("/messages", 1)[0] + "/read"


def _put(client, url, body):
    return client.put(url, body, format="json")


def test_the_marker_moves_forward_only_and_is_clamped(where, alice, bob, client_for):
    for n in range(5):
        _send(where, bob, f"m{n}")
    client = client_for(alice)
    answer = _put(client, _read_url(where), {"seq": 3})
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {"last_read_seq": 3, "unread_count": 2, "mention_count": 0}
    assert _put(client, _read_url(where), {"seq": 1}).json() == answer.json()  # never back
    assert _put(client, _read_url(where), {"seq": 10**9}).json() == {
        "last_read_seq": 5,
        "unread_count": 0,
        "mention_count": 0,
    }


@pytest.mark.parametrize("bad", [None, -1, "3", 1.5, True, [1]])
def test_a_bad_seq_is_400(where, alice, client_for, bad):
    answer = _put(client_for(alice), _read_url(where), {"seq": bad})
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"]["seq"]


def test_outsiders_cannot_mark(where, make_user, client_for):
    answer = _put(client_for(make_user()), _read_url(where), {"seq": 0})
    assert answer.status_code == (403 if where.kind == "channel" else 404)


@pytest.mark.parametrize("order", [(10, 12), (12, 10)])
def test_two_devices_marking_10_and_12_end_at_12(where, alice, bob, client_for, order):
    for n in range(12):
        _send(where, bob, f"m{n}")
    clients = [client_for(alice), client_for(alice)]
    for _round in range(5):
        results = run_in_threads(2, lambda i: _put(clients[i], _read_url(where), {"seq": order[i]}).json())
        assert max(r["last_read_seq"] for r in results) == 12
        assert _put(clients[0], _read_url(where), {"seq": 0}).json()["last_read_seq"] == 12


def test_many_devices_racing_end_at_the_highest(where, alice, bob, client_for):
    for n in range(20):
        _send(where, bob, f"m{n}")
    clients = [client_for(alice) for _ in range(8)]
    run_in_threads(8, lambda i: _put(clients[i], _read_url(where), {"seq": 20 - i}).json())
    assert _put(clients[0], _read_url(where), {"seq": 0}).json()["last_read_seq"] == 20


def test_a_new_member_starts_at_the_newest_seq(alice, bob, make_user, client_for):
    from channels_app import services as channel_services

    channel = channel_services.channel_create(user=alice, name="late")
    for n in range(4):
        services.message_send(sender=alice, channel_id=channel.pk, content=f"before {n}")
    carol = make_user("carol")
    channel_services.channel_join(user=carol, channel_id=channel.pk)
    url = f"/api/v1/channels/{channel.pk}/read"
    newest = services.message_send(sender=alice, channel_id=channel.pk, content="x").message.seq - 1
    state = _put(client_for(carol), url, {"seq": 0}).json()
    assert state["last_read_seq"] == newest  # "carol joined", after the 4 messages
    assert state["unread_count"] == 1  # "x" only
    _put(client_for(carol), url, {"seq": newest + 1})
    services.message_send(sender=alice, channel_id=channel.pk, content=f"hello <@{carol.pk}>")
    assert _put(client_for(carol), url, {"seq": 0}).json() == {
        "last_read_seq": newest + 1,
        "unread_count": 1,
        "mention_count": 1,
    }


def test_thread_marker(where, alice, bob, client_for):
    root = _send(where, alice, "root")
    replies = [_send(where, bob, f"r{n} <@{alice.pk}>" if n == 2 else f"r{n}", thread_id=root.id) for n in range(3)]
    _send(where, alice, "mine", thread_id=root.id)
    url = where.url + f"/{root.id}/replies/read"
    client = client_for(alice)
    assert _put(client, url, {"seq": 0}).json() == {"last_read_seq": 0, "unread_count": 3, "mention_count": 1}
    assert _put(client, url, {"seq": replies[0].seq}).json()["unread_count"] == 2
    threads = client.get("/api/v1/threads").json()["results"]
    assert threads[0]["unread_replies"] == 2 and threads[0]["last_read_seq"] == replies[0].seq
    assert client.get("/api/v1/unreads").json()["threads_with_unread_replies"] == 1
    assert _put(client, url, {"seq": replies[2].seq}).json()["unread_count"] == 0
    assert client.get("/api/v1/unreads").json()["threads_with_unread_replies"] == 0
    assert _put(client, where.url + "/ffffffffffffffffffffffff/replies/read", {"seq": 1}).status_code == 404


def test_unreads_totals_and_muting(channel, dm, alice, bob, client_for):
    client = client_for(alice)
    services.message_send(sender=bob, channel_id=channel.pk, content="hi @channel")
    services.message_send(sender=bob, conversation_id=dm.pk, content="psst")
    assert client.get("/api/v1/unreads").json() == {
        "unread_conversations": 2,
        "mention_count": 1,
        "threads_with_unread_replies": 0,
    }
    answer = _put(client, f"/api/v1/channels/{channel.pk}/preferences", {"muted": True})
    assert answer.status_code == 200 and answer.json() == {"muted": True}
    assert client.get("/api/v1/unreads").json()["unread_conversations"] == 1
    assert _put(client, f"/api/v1/channels/{channel.pk}/preferences", {"muted": "yes"}).status_code == 400
    _put(client, f"/api/v1/dms/{dm.pk}/read", {"seq": 99})
    assert client.get("/api/v1/unreads").json()["unread_conversations"] == 0


def test_marking_a_message_as_soon_as_it_is_announced_reaches_it(where, alice, bob, client_for, monkeypatch):
    """message.created is published under the conversation's lock, before the send
    commits: a client that marks the announced seq at once (another thread, while the
    send's transaction is still open) must get that seq, not the one before it."""
    import threading
    import time

    from django.db import connection

    from realtime import broadcast

    _send(where, bob, "first")
    client = client_for(alice)
    answers, readers = [], []

    def mark(seq):
        try:
            answers.append((seq, _put(client, _read_url(where), {"seq": seq}).json()))
        finally:
            connection.close()

    def announced(original):
        def publish(*args, **kwargs):
            messages = [kwargs["message"]] if "message" in kwargs else kwargs["messages"]
            reader = threading.Thread(target=mark, args=(messages[-1]["seq"],))
            reader.start()
            readers.append(reader)
            time.sleep(0.3)  # the send's transaction stays open meanwhile
            return original(*args, **kwargs)

        return publish

    monkeypatch.setattr(broadcast, "message_created", announced(broadcast.message_created))
    monkeypatch.setattr(broadcast, "messages_created", announced(broadcast.messages_created))
    sent = _send(where, bob, "second")
    for reader in readers:
        reader.join(timeout=30)
    assert answers == [(sent.seq, {"last_read_seq": sent.seq, "unread_count": 0, "mention_count": 0})]


def test_racing_devices_announce_their_markers_in_the_order_written(where, alice, bob, client_for, monkeypatch):
    """Device 1 marks 10 and is slow to publish its read.updated; device 2 marks 12
    meanwhile. The other sockets must hear 10 then 12, never 12 then 10 (which would
    leave them showing the marker moved back)."""
    import threading
    import time

    from django.db import connection

    from realtime import broadcast

    for n in range(12):
        _send(where, bob, f"m{n}")
    published, slow_started = [], threading.Event()
    original = broadcast.user_event

    def user_event(**kwargs):
        if kwargs["fields"].get("last_read_seq") == 10:
            slow_started.set()
            time.sleep(0.3)
        published.append(kwargs["fields"]["last_read_seq"])
        return original(**kwargs)

    monkeypatch.setattr(broadcast, "user_event", user_event)
    clients = [client_for(alice), client_for(alice)]

    def device(index):
        try:
            if index == 1:
                assert slow_started.wait(timeout=10)
            return _put(clients[index], _read_url(where), {"seq": (10, 12)[index]}).json()
        finally:
            connection.close()

    threads = [threading.Thread(target=device, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert published == [10, 12]
    assert _put(clients[0], _read_url(where), {"seq": 0}).json()["last_read_seq"] == 12


def test_the_schema_gives_the_seq_range_the_server_accepts(where, alice, bob, client_for):
    """GET /api/v1/schema/ names the same bounds as the server: 0 to 2**62 (above: 400)."""
    schema = client_for(alice).get("/api/v1/schema/", {"format": "json"}).json()
    seq = schema["components"]["schemas"]["ReadMarkInRequest"]["properties"]["seq"]
    assert (seq["minimum"], seq["maximum"]) == (0, 2**62)
    _send(where, bob, "m")
    assert _put(client_for(alice), _read_url(where), {"seq": 2**62}).json()["last_read_seq"] == 1
    answer = _put(client_for(alice), _read_url(where), {"seq": 2**62 + 1})
    assert answer.status_code == 400 and answer.json()["error"]["fields"]["seq"]


def test_the_schema_of_get_threads_gives_its_paging_and_a_non_null_marker(alice, client_for):
    """GET /threads pages with cursor/limit and always answers an integer last_read_seq."""
    schema = client_for(alice).get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/threads"]["get"]
    assert {"cursor", "limit"} <= {p["name"] for p in operation.get("parameters", [])}
    marker = schema["components"]["schemas"]["FollowedThread"]["properties"]["last_read_seq"]
    assert not marker.get("nullable", False)


def test_a_mark_ahead_of_the_counter_does_not_wait_for_the_conversations_lock(where, alice, bob, client_for):
    """A hot conversation's members mark read as its messages arrive, often ahead of the
    committed counter: such a mark must not queue on the conversation's lock (where it
    would hold a pooled connection and delay the next send batch). Here another
    transaction holds that lock until the mark has answered (at most 10 s): the mark is
    answered while the lock is still held."""
    import threading

    from django.db import connection, transaction

    from messaging.services import conversation_writes_lock

    sent = _send(where, bob, "one")
    conversation = where.conversation
    locked, answered, still_locked = threading.Event(), threading.Event(), []

    def hold_lock():
        try:
            with transaction.atomic():
                conversation_writes_lock(conversation)
                locked.set()
                answered.wait(timeout=10)
                still_locked.append(answered.is_set())
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(timeout=10)
    response = _put(client_for(alice), _read_url(where), {"seq": sent.seq + 1000})
    answered.set()
    holder.join(timeout=30)
    assert response.status_code == 200, response.content
    assert response.json()["last_read_seq"] == sent.seq
    assert still_locked == [True]  # answered before the lock was released, not after 10 s
