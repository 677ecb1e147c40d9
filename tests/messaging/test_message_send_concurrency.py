"""message_send under concurrency: threads with their own PostgreSQL connections
stand in for several server processes."""

import pytest

from messaging import services
from messaging.mongo import get_db
from tests.helpers import capture_broadcasts
from tests.messaging.support import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_retries_of_one_client_msg_id_store_one_message(make_user, make_channel, client_for):
    sender = make_user()
    channel = make_channel(sender)
    clients = [client_for(sender) for _ in range(8)]
    url = f"/api/v1/channels/{channel.pk}/messages"

    with capture_broadcasts() as captured:
        responses = run_in_threads(
            len(clients),
            lambda i: clients[i].post(url, {"content": "only once", "client_msg_id": "dup-1"}, format="json"),
        )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 7 + [201]
    assert len({response.json()["id"] for response in responses}) == 1
    assert get_db()["channel_messages"].count_documents({"channelId": str(channel.pk)}) == 1
    assert len(captured.of("message_created")) == 1
    # No seq was consumed by the duplicates: the next message follows directly.
    assert services.message_send(sender=sender, channel_id=channel.pk, content="next").message.seq == 2


def test_concurrent_retries_via_the_service_report_created_once(make_user, make_dm):
    a, b = make_user(), make_user()
    dm = make_dm(a, b)

    results = run_in_threads(
        6, lambda i: services.message_send(sender=a, conversation_id=dm.pk, content="hi", client_msg_id="same")
    )

    assert sorted(result.created for result in results) == [False] * 5 + [True]
    assert len({result.message.id for result in results}) == 1
    assert get_db()["dm_messages"].count_documents({"conversationId": str(dm.pk)}) == 1


def test_seq_strictly_increases_and_created_at_never_decreases_under_concurrency(make_user, make_channel):
    senders = [make_user() for _ in range(6)]
    channel = make_channel(*senders)
    per_sender = 15

    with capture_broadcasts() as captured:
        run_in_threads(
            len(senders),
            lambda i: [
                services.message_send(sender=senders[i], channel_id=channel.pk, content=f"{i}:{n}")
                for n in range(per_sender)
            ],
        )

    docs = list(get_db()["channel_messages"].find({"channelId": str(channel.pk)}).sort("seq", 1))
    total = len(senders) * per_sender
    assert [doc["seq"] for doc in docs] == list(range(1, total + 1))
    created = [doc["createdAt"] for doc in docs]
    assert created == sorted(created)
    # Broadcasts happen under the conversation's lock: in seq order.
    assert [call["message"]["seq"] for call in captured.of("message_created")] == list(range(1, total + 1))
    # Each sender's own messages keep their sending order.
    for i in range(len(senders)):
        mine = [int(doc["content"].split(":")[1]) for doc in docs if doc["content"].startswith(f"{i}:")]
        assert mine == list(range(per_sender))


def test_different_conversations_count_independently_under_concurrency(make_user, make_channel):
    sender = make_user()
    channels = [make_channel(sender) for _ in range(4)]

    run_in_threads(
        len(channels),
        lambda i: [services.message_send(sender=sender, channel_id=channels[i].pk, content="x") for _ in range(10)],
    )

    for channel in channels:
        seqs = [doc["seq"] for doc in get_db()["channel_messages"].find({"channelId": str(channel.pk)}).sort("seq", 1)]
        assert seqs == list(range(1, 11))
