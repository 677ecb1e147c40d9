"""GET .../messages and selectors.message_history: keyset paging on seq."""

import threading
import time

import pytest
from django.db import connection

from messaging import selectors, services
from messaging.cursors import encode_cursor
from messaging.documents import Conversation, ConversationKind
from messaging.repositories import repository_for
from tests.messaging.support import Where, run_in_threads


def _send_many(user, where, count: int) -> list[int]:
    return [services.message_send(sender=user, **where.kwargs, content=f"m{i}").message.seq for i in range(count)]


def _page(client, where, **params):
    response = client.get(where.url, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_an_empty_conversation_has_an_empty_newest_page_whose_cursors_mark_the_start(client_for, alice, where):
    page = _page(client_for(alice), where)

    assert page["results"] == []
    assert page["has_more"] is False
    assert page["before_cursor"] == page["after_cursor"] == encode_cursor(where.conversation, 0)


def test_the_newest_page_is_the_newest_messages_oldest_first(client_for, alice, where):
    _send_many(alice, where, 7)

    page = _page(client_for(alice), where, limit=3)

    assert [m["seq"] for m in page["results"]] == [5, 6, 7]
    assert [m["content"] for m in page["results"]] == ["m4", "m5", "m6"]
    assert page["has_more"] is True


def test_the_default_page_size_is_50(client_for, alice, where):
    _send_many(alice, where, 52)

    page = _page(client_for(alice), where)

    assert [m["seq"] for m in page["results"]] == list(range(3, 53))
    assert page["has_more"] is True


def test_a_newest_page_holding_everything_has_no_more(client_for, alice, where):
    _send_many(alice, where, 3)

    page = _page(client_for(alice), where, limit=3)

    assert [m["seq"] for m in page["results"]] == [1, 2, 3]
    assert page["has_more"] is False


def test_paging_backwards_visits_every_message_once_without_gaps(client_for, alice, where):
    _send_many(alice, where, 23)
    client = client_for(alice)

    page = _page(client, where, limit=5)
    seen = [m["seq"] for m in page["results"]]
    pages = 1
    while page["has_more"]:
        page = _page(client, where, limit=5, before=page["before_cursor"])
        seen = [m["seq"] for m in page["results"]] + seen
        pages += 1

    assert seen == list(range(1, 24))
    assert pages == 5
    last = _page(client, where, limit=5, before=page["before_cursor"])
    assert last["results"] == []
    assert last["has_more"] is False


def test_paging_forwards_from_the_start_visits_every_message_once(client_for, alice, where):
    _send_many(alice, where, 23)
    client = client_for(alice)

    cursor = encode_cursor(where.conversation, 0)
    seen, has_more = [], True
    while has_more:
        page = _page(client, where, limit=4, after=cursor)
        assert [m["seq"] for m in page["results"]] == sorted(m["seq"] for m in page["results"])
        seen += [m["seq"] for m in page["results"]]
        cursor, has_more = page["after_cursor"], page["has_more"]

    assert seen == list(range(1, 24))


def test_has_more_after_is_about_newer_messages(client_for, alice, where):
    _send_many(alice, where, 6)
    client = client_for(alice)
    oldest = _page(client, where, limit=2, after=encode_cursor(where.conversation, 0))

    middle = _page(client, where, limit=2, after=oldest["after_cursor"])
    newest = _page(client, where, limit=2, after=middle["after_cursor"])

    assert [m["seq"] for m in oldest["results"]] == [1, 2]
    assert oldest["has_more"] is True
    assert [m["seq"] for m in newest["results"]] == [5, 6]
    assert newest["has_more"] is False


def test_an_empty_after_page_keeps_the_cursor_it_was_asked_for(client_for, alice, where):
    _send_many(alice, where, 2)
    client = client_for(alice)
    newest = _page(client, where)

    empty = _page(client, where, after=newest["after_cursor"])
    assert empty["results"] == []
    assert empty["has_more"] is False
    assert empty["after_cursor"] == empty["before_cursor"] == newest["after_cursor"]

    services.message_send(sender=alice, **where.kwargs, content="later")
    polled = _page(client, where, after=empty["after_cursor"])
    assert [m["content"] for m in polled["results"]] == ["later"]


def test_polling_with_the_after_cursor_of_an_empty_conversation_gets_the_first_messages(client_for, alice, where):
    client = client_for(alice)
    empty = _page(client, where)
    _send_many(alice, where, 2)

    polled = _page(client, where, after=empty["after_cursor"])

    assert [m["seq"] for m in polled["results"]] == [1, 2]


def test_before_and_after_cursors_name_the_ends_of_the_page(client_for, alice, where):
    _send_many(alice, where, 10)
    client = client_for(alice)
    page = _page(client, where, limit=3)

    older = _page(client, where, limit=3, before=page["before_cursor"])
    back = _page(client, where, limit=3, after=older["after_cursor"])

    assert [m["seq"] for m in older["results"]] == [5, 6, 7]
    assert back["results"] == page["results"]


def test_deleted_messages_are_hidden_from_history(client_for, alice, where):
    ids = [services.message_send(sender=alice, **where.kwargs, content=f"m{i}").message.id for i in range(3)]
    services.message_delete(user=alice, message_id=ids[1], **where.kwargs)

    page = _page(client_for(alice), where)

    assert [m["content"] for m in page["results"]] == ["m0", "m2"]
    assert [m["seq"] for m in page["results"]] == [1, 3]


def test_limit_bounds(client_for, alice, where):
    _send_many(alice, where, 3)
    client = client_for(alice)

    assert len(_page(client, where, limit=1)["results"]) == 1
    assert len(_page(client, where, limit=200)["results"]) == 3


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "", "1.5", '{"$gt": 0}'])
def test_a_bad_limit_is_a_400(client_for, alice, where, limit):
    response = client_for(alice).get(where.url, {"limit": limit})

    assert response.status_code == 400
    assert "limit" in response.json()["error"]["fields"]


def test_both_cursors_at_once_is_a_400(client_for, alice, where):
    cursor = encode_cursor(where.conversation, 1)

    response = client_for(alice).get(where.url, {"before": cursor, "after": cursor})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_cursor"
    assert set(error["fields"]) == {"before", "after"}


@pytest.mark.parametrize("param", ["before", "after"])
@pytest.mark.parametrize("cursor", ["garbage", "", '{"$gt": 0}', "1", "eyJ.abc"])
def test_a_cursor_that_is_not_ours_is_a_400(client_for, alice, where, param, cursor):
    response = client_for(alice).get(where.url, {param: cursor})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"
    assert param in response.json()["error"]["fields"]


def test_a_tampered_cursor_is_a_400(client_for, alice, where):
    _send_many(alice, where, 3)
    client = client_for(alice)
    cursor = _page(client, where, limit=1)["before_cursor"]

    tampered = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    response = client.get(where.url, {"before": tampered})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_a_cursor_of_another_conversation_is_a_400(client_for, alice, where, make_channel):
    other = make_channel(alice)
    services.message_send(sender=alice, channel_id=other.pk, content="x")
    cursor = _page(client_for(alice), Where(f"/api/v1/channels/{other.pk}/messages", {}, other.pk, "channel"))

    response = client_for(alice).get(where.url, {"after": cursor["after_cursor"]})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_operator_shaped_query_parameters_never_reach_a_query(client_for, alice, where):
    _send_many(alice, where, 2)
    client = client_for(alice)

    # Bracketed names are just unknown parameters; values are strings validated as such.
    page = _page(client, where, **{"limit[$gt]": "0", "before[$ne]": "x", "$where": "sleep(1000)"})
    assert [m["seq"] for m in page["results"]] == [1, 2]
    assert client.get(f"{where.url}?before[$gt]=&limit=1").status_code == 200
    assert client.get(where.url, {"after": '{"$gt": 0}'}).status_code == 400


def test_history_is_in_seq_and_created_at_order(alice, where):
    _send_many(alice, where, 5)

    page = selectors.message_history(user=alice, **where.kwargs)

    assert [m.seq for m in page.results] == [1, 2, 3, 4, 5]
    assert [m.created_at for m in page.results] == sorted(m.created_at for m in page.results)


@pytest.mark.django_db(transaction=True)
def test_a_reader_paging_forward_during_concurrent_sends_gets_every_message_once_in_order(make_user, make_channel):
    """Writers in several threads (each with its own PostgreSQL connection, as several
    server processes would have) send while a reader polls with after_cursor."""
    writers, per_writer = 4, 25
    users = [make_user() for _ in range(writers)]
    reader = users[0]
    channel = make_channel(*users)
    conversation = Conversation(ConversationKind.CHANNEL, str(channel.pk))
    done = threading.Event()

    def write(index):
        for i in range(per_writer):
            services.message_send(sender=users[index], channel_id=channel.pk, content=f"w{index}-{i}")

    seen: list[int] = []
    failures: list[BaseException] = []

    def read():
        try:
            cursor = encode_cursor(conversation, 0)
            while True:
                finished = done.is_set()  # read once more after the writers are done
                page = selectors.message_history(user=reader, channel_id=channel.pk, limit=7, after=cursor)
                seen.extend(m.seq for m in page.results)
                cursor = page.after_cursor
                if finished and not page.has_more:
                    return
                if not page.results:
                    time.sleep(0.002)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    reader_thread = threading.Thread(target=read)
    reader_thread.start()
    try:
        run_in_threads(writers, write)
    finally:
        done.set()
        reader_thread.join(timeout=60)

    assert not failures, failures
    assert seen == list(range(1, writers * per_writer + 1))
    stored = repository_for(conversation.kind).page_after(conversation_id=conversation.id, seq=0, limit=1000)
    assert len(stored) == writers * per_writer
