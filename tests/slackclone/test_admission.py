"""Admission of REST sends (slackclone.admission): a hot conversation is shed at the
door with 429, before Django runs; other conversations and other requests pass."""

import asyncio
import json
import time
import uuid

from slackclone.admission import send_admission

HOT, QUIET = str(uuid.uuid4()), str(uuid.uuid4())


class App:
    """An ASGI app whose requests stay in flight until `release` is set."""

    def __init__(self):
        self.release = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope, receive, send):
        self.entered += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def _request(app, path: str, method: str = "POST") -> dict:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app({"type": "http", "method": method, "path": path, "headers": []}, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return {"status": start["status"], "headers": dict(start["headers"]), "body": body}


def test_a_conversation_with_the_maximum_of_sends_in_flight_sheds_the_next_with_429(settings):
    settings.SEND_INFLIGHT_MAX = 3
    settings.SEND_SHED_LAG_MS = 10_000

    async def scenario():
        inner = App()
        app = send_admission(inner)
        hot = f"/api/v1/channels/{HOT}/messages"
        in_flight = [asyncio.create_task(_request(app, hot)) for _ in range(3)]
        await asyncio.sleep(0.01)
        shed = await asyncio.wait_for(_request(app, hot), 1)
        # Other conversations, DMs, other methods and paths are not counted with it.
        others = [
            asyncio.create_task(_request(app, f"/api/v1/channels/{QUIET}/messages")),
            asyncio.create_task(_request(app, f"/api/v1/dms/{HOT}/messages/")),
            asyncio.create_task(_request(app, hot, method="GET")),
            asyncio.create_task(_request(app, f"/api/v1/channels/{HOT}")),
        ]
        await asyncio.sleep(0.01)
        entered_before_release = inner.entered
        inner.release.set()
        done = await asyncio.gather(*in_flight, *others)
        after = await _request(app, hot)  # the count went back down
        return shed, entered_before_release, done, after

    shed, entered, done, after = asyncio.run(scenario())
    assert shed["status"] == 429
    assert shed["headers"][b"retry-after"] == b"1"
    assert json.loads(shed["body"])["error"]["code"] == "conversation_busy"
    assert entered == 3 + 4
    assert [r["status"] for r in done] == [201] * 7
    assert after["status"] == 201


def test_a_group_dm_and_a_dm_are_bounded_like_a_channel(settings):
    settings.SEND_INFLIGHT_MAX = 1
    settings.SEND_SHED_LAG_MS = 10_000

    async def scenario():
        inner = App()
        app = send_admission(inner)
        statuses = {}
        for kind in ("dms", "group-dms"):
            path = f"/api/v1/{kind}/{HOT}/messages"
            in_flight = asyncio.create_task(_request(app, path))
            await asyncio.sleep(0.01)
            statuses[kind] = (await asyncio.wait_for(_request(app, path), 1))["status"]
            inner.release.set()
            await in_flight
            inner.release.clear()
        return statuses

    assert asyncio.run(scenario()) == {"dms": 429, "group-dms": 429}


def test_while_the_loop_lags_a_conversation_with_a_send_in_flight_is_shed_but_a_quiet_one_passes(settings):
    settings.SEND_INFLIGHT_MAX = 100
    settings.SEND_SHED_LAG_MS = 50

    async def scenario():
        inner = App()
        app = send_admission(inner)
        hot = f"/api/v1/channels/{HOT}/messages"
        first = asyncio.create_task(_request(app, hot))
        await asyncio.sleep(0.01)
        time.sleep(0.3)  # noqa: ASYNC251 (on purpose: the loop is blocked, its lag watcher fires late)
        await asyncio.sleep(0.001)  # the late watcher runs first
        shed = await asyncio.wait_for(_request(app, hot), 1)
        quiet = asyncio.create_task(_request(app, f"/api/v1/channels/{QUIET}/messages"))
        await asyncio.sleep(0.01)
        inner.release.set()
        return shed, await first, await quiet

    shed, first, quiet = asyncio.run(scenario())
    assert shed["status"] == 429
    assert first["status"] == 201 and quiet["status"] == 201


def _bound(settings, *, concurrency: int, wait_ms: float) -> None:
    """The concurrency bound under test; the other two rules out of the way."""
    settings.SEND_INFLIGHT_MAX = 64
    settings.SEND_SHED_LAG_MS = 10_000
    settings.SEND_CONCURRENCY_MAX = concurrency
    settings.SEND_ADMIT_WAIT_MS = wait_ms


class OrderedApp:
    """An ASGI app that records the order requests enter it and holds each until released."""

    def __init__(self):
        self.entered: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    async def __call__(self, scope, receive, send):
        name = scope["name"]
        self.entered.append(name)
        gate = self.gates.setdefault(name, asyncio.Event())
        await gate.wait()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def release(self, name: str) -> None:
        self.gates.setdefault(name, asyncio.Event()).set()


async def _named_request(app, path: str, name: str) -> int:
    statuses: list[int] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app({"type": "http", "method": "POST", "path": path, "headers": [], "name": name}, receive, send)
    return statuses[0]


def test_at_most_the_concurrency_bound_of_one_conversation_runs_the_others_wait_their_turn_in_order(settings):
    _bound(settings, concurrency=2, wait_ms=5_000)

    async def scenario():
        inner = OrderedApp()
        app = send_admission(inner)
        hot = f"/api/v1/channels/{HOT}/messages"
        sends = []
        for i in range(5):
            sends.append(asyncio.create_task(_named_request(app, hot, f"hot{i}")))
            await asyncio.sleep(0.005)
        quiet = asyncio.create_task(_named_request(app, f"/api/v1/channels/{QUIET}/messages", "quiet"))
        await asyncio.sleep(0.02)
        entered_at_first = list(inner.entered)  # two of the hot conversation, and the quiet one
        inner.release("quiet")
        for i in range(5):  # each one leaving hands its turn to the oldest waiting
            inner.release(f"hot{i}")
            await asyncio.sleep(0.01)
        return entered_at_first, list(inner.entered), await asyncio.gather(*sends), await quiet

    entered_at_first, entered, statuses, quiet = asyncio.run(scenario())
    assert entered_at_first == ["hot0", "hot1", "quiet"]
    assert entered == ["hot0", "hot1", "quiet", "hot2", "hot3", "hot4"]
    assert statuses == [201] * 5 and quiet == 201


def test_a_send_that_waits_too_long_for_its_turn_is_shed_with_429_and_never_runs(settings):
    _bound(settings, concurrency=1, wait_ms=50)

    async def scenario():
        inner = OrderedApp()
        app = send_admission(inner)
        hot = f"/api/v1/channels/{HOT}/messages"
        first = asyncio.create_task(_named_request(app, hot, "first"))
        await asyncio.sleep(0.005)
        late = await asyncio.wait_for(_named_request(app, hot, "late"), 1)  # waits 50 ms, then 429
        inner.release("first")
        after = asyncio.create_task(_named_request(app, hot, "after"))  # the turn is free again
        await asyncio.sleep(0.01)
        inner.release("after")
        return late, await first, await after, list(inner.entered)

    late, first, after, entered = asyncio.run(scenario())
    assert late == 429
    assert first == 201 and after == 201
    assert entered == ["first", "after"]


def test_without_the_concurrency_bound_every_send_runs_at_once(settings):
    _bound(settings, concurrency=0, wait_ms=5_000)

    async def scenario():
        inner = OrderedApp()
        app = send_admission(inner)
        hot = f"/api/v1/channels/{HOT}/messages"
        sends = [asyncio.create_task(_named_request(app, hot, f"hot{i}")) for i in range(5)]
        await asyncio.sleep(0.02)
        entered = list(inner.entered)
        for i in range(5):
            inner.release(f"hot{i}")
        return entered, await asyncio.gather(*sends)

    entered, statuses = asyncio.run(scenario())
    assert len(entered) == 5 and statuses == [201] * 5


def test_a_send_that_joined_its_group_commit_queue_gives_its_turn_to_the_next(settings):
    """`turn_release` from the request's thread (messaging.services' group commit calls it
    when a send starts waiting for its batch): the next send of the conversation runs
    while the first one is still in flight, so the bound does not shrink the batches."""
    from slackclone.admission import turn_release

    _bound(settings, concurrency=1, wait_ms=5_000)

    class QueuingApp(OrderedApp):
        async def __call__(self, scope, receive, send):
            if scope["name"] == "first":
                await asyncio.to_thread(turn_release)  # as from the request's worker thread
                await asyncio.to_thread(turn_release)  # twice: still one turn given back
            await super().__call__(scope, receive, send)

    async def scenario():
        inner = QueuingApp()
        app = send_admission(inner)
        hot = f"/api/v1/channels/{HOT}/messages"
        first = asyncio.create_task(_named_request(app, hot, "first"))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(_named_request(app, hot, "second"))
        third = asyncio.create_task(_named_request(app, hot, "third"))
        await asyncio.sleep(0.05)
        entered = list(inner.entered)  # first and second; third waits for second's turn
        for name in ("first", "second", "third"):
            inner.release(name)
        return entered, await first, await second, await third

    entered, *statuses = asyncio.run(scenario())
    assert entered == ["first", "second"]
    assert statuses == [201, 201, 201]
