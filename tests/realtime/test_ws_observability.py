"""A WebSocket connection keeps its request id (X-Request-ID of the handshake, or a new
one) in every log record of the consumer and of the services it calls; /metrics counts
its connections and its sends."""

import logging

import pytest

from slackclone import metrics
from slackclone.request_id import RequestIdFilter
from tests.conftest import token_for
from tests.realtime.support import bearer, communicator, in_thread, next_frame

pytestmark = pytest.mark.django_db(transaction=True)


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []
        self.addFilter(RequestIdFilter())

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def consumer_logs():
    handler, logger = Collect(), logging.getLogger("realtime.consumers")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def gauge() -> float:
    return metrics.WEBSOCKETS_OPEN._value.get()


def counted(result: str) -> float:
    return metrics.WEBSOCKETS_TOTAL.labels(result)._value.get()


async def test_the_consumers_log_records_carry_the_handshakes_request_id(make_user, consumer_logs):
    token = await in_thread(lambda: token_for(make_user("traced")))
    comm = communicator(headers=[*bearer(token), (b"x-request-id", b"ws-trace-7")])
    connected, _ = await comm.connect()
    assert connected
    assert (await next_frame(comm))["type"] == "hello"
    await comm.disconnect()

    mine = [r for r in consumer_logs if "connected" in r.getMessage()]
    assert len(mine) == 2, [r.getMessage() for r in consumer_logs]  # connected, disconnected
    assert {r.request_id for r in mine} == {"ws-trace-7"}


async def test_without_a_header_each_connection_gets_its_own_id(make_user, consumer_logs):
    token = await in_thread(lambda: token_for(make_user("untraced")))
    for _ in range(2):
        comm = communicator(headers=bearer(token))
        await comm.connect()
        await next_frame(comm)
        await comm.disconnect()

    ids = {r.request_id for r in consumer_logs if "connected (" in r.getMessage()}
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)


async def test_open_connections_and_refusals_are_counted(make_user):
    token = await in_thread(lambda: token_for(make_user("gauged")))
    open_before, accepted_before, refused_before = gauge(), counted("accepted"), counted("refused")

    comm = communicator(headers=bearer(token))
    await comm.connect()
    await next_frame(comm)
    assert gauge() == open_before + 1
    assert counted("accepted") == accepted_before + 1

    refused = communicator(headers=bearer("not-a-token"))
    await refused.connect()
    await refused.receive_output()  # the close
    assert counted("refused") == refused_before + 1

    await comm.disconnect()
    assert gauge() == open_before


async def test_message_send_frames_are_counted(make_user):
    from channels_app.services import channel_create

    user = await in_thread(lambda: make_user("sender"))
    channel = await in_thread(lambda: channel_create(user=user, name="counted"))
    token = await in_thread(lambda: token_for(user))
    ok, error = metrics.MESSAGES_SENT.labels("ws", "ok"), metrics.MESSAGES_SENT.labels("ws", "error")
    ok_before, error_before = ok._value.get(), error._value.get()

    comm = communicator(headers=bearer(token))
    await comm.connect()
    await next_frame(comm)
    await comm.send_json_to({"type": "message.send", "channel_id": str(channel.id), "content": "hi"})
    assert (await next_frame(comm, skip=("presence.changed", "message.created")))["type"] == "message.ack"
    await comm.send_json_to({"type": "message.send", "channel_id": str(channel.id), "content": ""})
    assert (await next_frame(comm, skip=("presence.changed", "message.created")))["type"] == "error"
    await comm.disconnect()

    assert ok._value.get() == ok_before + 1
    assert error._value.get() == error_before + 1
