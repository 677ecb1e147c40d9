#!/usr/bin/env python
"""Capacity: how many active people two server processes serve while they stay healthy.

    .venv/bin/python bench/capacity.py                       # the ramp 100..1500, <= ~12 minutes
    .venv/bin/python bench/capacity.py --steps 500,1000 --hold 60
    .venv/bin/python bench/capacity.py --quick               # a smoke run, < 1 minute

What it simulates (issue 13, section 4). A workspace of realistic shape is created for
the largest step through the ORM in a few seconds (users, workspace memberships, one
token each through accounts.services.token_create, no HTTP registration): three big
channels (#general: everyone, #random: every 2nd person, #eng: every 4th), one small
channel per 10 people (each person in the one of their neighbours and in one picked at
random: about 20 members each), about 3 DMs per person (partners among the next 40
people, so that most DMs have both people active early in the ramp) and one 4-person
group DM per 25 people. Each person runs in a client process (--workers, default 3, so
that one Python process is not the bottleneck; their CPU is measured and printed) and:

- holds one WebSocket (the two server processes alternate by person); on activation
  ("opening the app") reads the sidebar (GET /conversations) and, for each of their
  conversations, the newest message (limit=1: the after_cursor from which a reconnect
  catches up); these boot requests are not in the step's figures, which are measured
  only once every person of the step is active;
- sends a message on average every --send-interval seconds (default 45, exponential
  gaps), always with a client_msg_id, in the conversation it is looking at; before
  each send it types (one `typing` frame, a second one for half of them, then 1-4 s
  of "composing"); 70% over REST, 30% with `message.send` over the socket; 18% of
  sends are thread replies (Mattermost's PercentReplies), preceded by reading the
  thread (GET .../replies); a failed send is retried with the same client_msg_id;
- switches conversation on average every --switch-interval seconds (default 40): picks
  a DM (35%), a small channel (40%), a big one (20%) or its group DM (5%), reads the
  newest page (limit 50) and, for 30% of the switches, one older page (scrolling back),
  then marks it read (PUT .../read with the newest seq);
- marks the conversation it looks at read again when messages arrive in it, at most
  once per 15 s (PUT .../read);
- adds a reaction on average every 180 s (0.25 reactions per send) to a recent message
  of the conversation it looks at;
- drops its socket on average every 15 minutes, reconnects after 1-3 s and catches up
  every conversation with its after_cursor (GET .../messages?after=..., limit 200).

Why these rates. Mattermost's load-test agent (mattermost-load-test-ng, its
"simulative" controller) draws one action every 20 s on average (AvgIdleTimeMs 20000),
weighted: SwitchChannel 6.52, ScrollChannel 1.99, CreatePost 1, UnreadCheck 1,
OpenDirectOrGroupChannel 0.98, ViewGlobalThreads 0.60, UpdateThreadRead 0.32,
ViewThread 0.28, AddReaction 0.13, ReconnectWebSocket 0.14, ... (sum about 13.4): a post
every ~270 s, a switch every ~40 s, a reconnect every ~30 minutes per user. This script
posts six times as often (every 45 s, the brief's "30-60 s"), switches at Mattermost's
rate and reconnects twice as often, so its people are busier than Mattermost's: the
count it reports is conservative against Mattermost's published figures.

Thresholds, per step (Mattermost's health check of a load test): average request
latency <= 100 ms, p99 <= 2 s, errors <= 0.025% of requests, and zero messages lost or
duplicated. Latency: every HTTP request after boot plus each WebSocket `message.send`
(its ack latency), over the hold of the step; errors: over the whole step (its ramp
too, boot requests included), a non-2xx answer (429 shed included), a timeout, a
refused socket or an `error` frame, over every attempt. Lost = an acknowledged message
that did not reach, over its socket or by its after_cursor catch-up after a reconnect,
a member who was active (hello received) before it was sent (a member whose reconnect
or catch-up had not completed by the end is not a connected member: what was sent
after it dropped is left out, and the number of such people is printed as
people_disconnected_at_end); duplicated = the same message twice on one socket. The
largest step that holds every threshold is the capacity; the first step that breaks
one is printed with what broke, and with what saturates: per-process CPU (each server,
PostgreSQL, FerretDB, Redis, the client processes, from /proc), the machine's busy
share, and py-spy's top frames of each server process during the step.

A step whose people cannot all start (boot) within its ramp + --boot-timeout (60 s)
goes on without them and fails with their number (they keep trying in the background).

Baseline (same run): a warm-up step of --baseline-people (10) people, whose latency is
that of nearly idle servers. The ramp stops after the first failing step
(--keep-going to run every step). Each run uses its own MongoDB database
(capacity_<run>, dropped at the end) and removes its users and conversations.
"""

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict, deque
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from common import (
    ORIGIN,
    ROOT,
    SERVERS,
    Http,
    cpu_seconds,
    django_setup,
    emit_row,
    percentile,
    raise_nofile_limit,
    start_server,
    stop_processes,
    wait_http,
)

THRESHOLDS = {"avg_ms": 100.0, "p99_ms": 2000.0, "error_pct": 0.025}
GOAL_PEOPLE = 1000
DEFAULT_STEPS = "100,200,300,500,750,1000,1250,1500"
REQUEST_TIMEOUT = 15.0
REACTION = quote("\N{THUMBS UP SIGN}")
PATHS = {"channel": "channels", "dm": "dms", "group_dm": "group-dms"}
FIELD = {"channel": "channel_id", "dm": "conversation_id", "group_dm": "conversation_id"}
PROJECT_PACKAGES = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"bench", "tests"}
SWITCH_WEIGHTS = {"dm": 0.35, "small": 0.40, "big": 0.20, "group_dm": 0.05}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", default=DEFAULT_STEPS, help=f"active people per step (default {DEFAULT_STEPS})")
    p.add_argument("--hold", type=float, default=60.0, help="seconds each step is measured (default 60)")
    p.add_argument("--ramp", type=float, default=20.0, help="seconds over which a step's new people arrive")
    p.add_argument("--baseline-people", type=int, default=10, help="the warm-up step (same-run baseline)")
    p.add_argument("--workers", type=int, default=3, help="client processes (default 3)")
    p.add_argument("--servers", type=int, default=2, help="server processes (default 2)")
    p.add_argument(
        "--server", default="serve", choices=SERVERS, help="the ASGI server (bench/common.py; default serve)"
    )
    p.add_argument("--code", default=None, help="serve another checkout (e.g. of main, with --server daphne)")
    p.add_argument("--send-interval", type=float, default=45.0, help="mean s between a person's sends")
    p.add_argument("--switch-interval", type=float, default=40.0, help="mean s between conversation switches")
    p.add_argument("--react-interval", type=float, default=180.0, help="mean s between a person's reactions")
    p.add_argument("--reconnect-interval", type=float, default=900.0, help="mean s between socket drops")
    p.add_argument("--read-interval", type=float, default=15.0, help="min s between marks read on new messages")
    p.add_argument("--drain", type=float, default=5.0, help="s after the last step for late frames")
    p.add_argument("--boot-timeout", type=float, default=60.0, help="s after the ramp for people to start")
    p.add_argument("--profile-seconds", type=float, default=8.0, help="py-spy record per step (0: none)")
    p.add_argument("--keep-going", action="store_true", help="run every step even after one fails")
    p.add_argument("--quick", action="store_true", help="small and fast: a smoke run for make bench-quick")
    p.add_argument("--settings", default=os.environ.get("DJANGO_SETTINGS_MODULE", "slackclone.settings"))
    args = p.parse_args()
    if args.quick:
        args.steps, args.hold, args.ramp, args.baseline_people, args.workers = "16,32", 5.0, 2.0, 4, 2
        args.send_interval, args.switch_interval, args.react_interval = 3.0, 3.0, 6.0
        args.reconnect_interval, args.read_interval, args.drain, args.profile_seconds = 8.0, 2.0, 2.0, 2.0
    args.step_list = [int(s) for s in args.steps.split(",") if s.strip()]
    return args


# --- the workspace ------------------------------------------------------------------------


def build_world(n: int, run: str, seed: int = 13) -> tuple[list[dict], dict]:
    """n people and their conversations, through the ORM (no HTTP). Returns (people,
    members) with people[i] = {"user_id", "token", "convs": [(kind, id, group)]} where
    group is big/small/dm/group_dm, and members = {conversation id: [person index]}."""
    from django.db import transaction

    from accounts.models import User, WorkspaceMember, default_workspace_id
    from accounts.services import token_create
    from channels_app.models import Channel, ChannelMember
    from dms.models import DmConversation, GroupDm, GroupDmMember
    from dms.selectors import group_dm_member_key

    rng = random.Random(seed)
    workspace_id = default_workspace_id()
    with transaction.atomic():
        users = User.objects.bulk_create(
            [
                User(username=f"cap{run}u{i}", email=f"cap{run}u{i}@bench.invalid", display_name=f"P{i}", password="!")
                for i in range(n)
            ]
        )
        memberships = WorkspaceMember.objects.bulk_create(
            [WorkspaceMember(workspace_id=workspace_id, user=u) for u in users]
        )
    tokens = [
        token_create(user=u, membership=m, device_name="bench/capacity.py")
        for u, m in zip(users, memberships, strict=True)
    ]
    convs: list[list[tuple[str, str, str]]] = [[] for _ in range(n)]
    members: dict[str, list[int]] = defaultdict(list)
    with transaction.atomic():
        big = (("general", 1), ("random", 2), ("eng", 4))
        n_small = max(2, n // 10)
        channels = Channel.objects.bulk_create(
            [Channel(name=f"cap-{run}-{name}", description="bench/capacity.py") for name, _ in big]
            + [Channel(name=f"cap-{run}-small-{c}", description="bench/capacity.py") for c in range(n_small)]
        )
        rows = []
        for b, (_name, step) in enumerate(big):
            for i in range(0, n, step):
                rows.append((channels[b], i, "big"))
        small = channels[len(big) :]
        for i in range(n):
            picks = {i // 10 % n_small, rng.randrange(n_small)}
            rows.extend((small[c], i, "small") for c in picks)
        ChannelMember.objects.bulk_create([ChannelMember(channel=ch, user=users[i]) for ch, i, _ in rows])
        for ch, i, group in rows:
            convs[i].append(("channel", str(ch.pk), group))
            members[str(ch.pk)].append(i)
        pairs = set()
        for i in range(n):
            for _ in range(3 if i % 2 == 0 else 0):
                j = (i + rng.randint(1, 40)) % n
                if j != i:
                    pairs.add((min(i, j), max(i, j)))
        dms = []
        for i, j in sorted(pairs):
            a, b = sorted((users[i], users[j]), key=lambda u: u.pk)
            dms.append((DmConversation(workspace_id=workspace_id, user1=a, user2=b), i, j))
        DmConversation.objects.bulk_create([dm for dm, _, _ in dms])
        for dm, i, j in dms:
            for k in (i, j):
                convs[k].append(("dm", str(dm.pk), "dm"))
                members[str(dm.pk)].append(k)
        groups = []
        for g in range(n // 25):
            people = rng.sample(range(g * 25, min(n, g * 25 + 25)), 4)
            key = group_dm_member_key(users[k].pk for k in people)
            groups.append((GroupDm(workspace_id=workspace_id, member_key=key, created_by=users[people[0]]), people))
        GroupDm.objects.bulk_create([gd for gd, _ in groups])
        GroupDmMember.objects.bulk_create([GroupDmMember(group_dm=gd, user=users[k]) for gd, ps in groups for k in ps])
        for gd, ps in groups:
            for k in ps:
                convs[k].append(("group_dm", str(gd.pk), "group_dm"))
                members[str(gd.pk)].append(k)
    people = [
        {"user_id": str(u.pk), "token": t, "convs": convs[i]}
        for i, (u, t) in enumerate(zip(users, tokens, strict=True))
    ]
    return people, dict(members)


def remove_world(people: list[dict], members: dict) -> None:
    """Best effort: the run's users (their memberships, DMs, markers cascade), channels,
    group DMs, counters and unread entries. The MongoDB database is dropped separately."""
    from accounts.models import User
    from channels_app.models import Channel
    from dms.models import GroupDm
    from messaging.models import MessageSequence, ThreadFollow
    from readstate.models import UnreadEntry

    conv_ids = list(members)
    for model in (UnreadEntry, ThreadFollow, MessageSequence):
        model.objects.filter(conversation_id__in=conv_ids).delete()
    Channel.objects.filter(pk__in=conv_ids).delete()
    GroupDm.objects.filter(pk__in=conv_ids).delete()
    User.objects.filter(pk__in=[p["user_id"] for p in people]).delete()


# --- one simulated person (in a client process) --------------------------------------------


_HANDSHAKE_FAILURES_SHOWN = [0]


def _report_handshake_failure(exc: Exception, seconds: float) -> None:
    """Print the first three failed handshakes of this client process, with how long
    each took (to stderr: the run's log)."""
    if _HANDSHAKE_FAILURES_SHOWN[0] < 3:
        _HANDSHAKE_FAILURES_SHOWN[0] += 1
        print(f"[capacity] a handshake failed after {seconds:.2f} s: {exc!r} <- {exc.__cause__!r}", file=sys.stderr)


class Recorder:
    """A client process's records: requests (start, seconds, ok, kind), acks (conversation,
    message id, send start), counters."""

    def __init__(self):
        self.requests: list[tuple[float, float, bool, str]] = []
        self.acks: list[tuple[str, str, float]] = []
        self.counts: Counter = Counter()
        self.duplicated: list[float] = []  # when a message came twice over one socket
        self.frames: Counter = Counter()  # frames received per whole second of time.monotonic()

    def request(self, started: float, ok: bool, kind: str) -> None:
        self.requests.append((started, time.monotonic() - started, ok, kind))
        if not ok:
            self.counts[f"error_{kind}"] += 1


class Person:
    def __init__(self, index: int, spec: dict, http_url: str, ws_url: str, http: Http, rec: Recorder, cfg: dict):
        self.i = index
        self.user_id = spec["user_id"]
        self.token = spec["token"]
        self.convs = {cid: (kind, group) for kind, cid, group in spec["convs"]}
        self.by_group: dict[str, list[str]] = defaultdict(list)
        for _kind, cid, group in spec["convs"]:
            self.by_group[group].append(cid)
        self.http_url, self.ws_url, self.http, self.rec, self.cfg = http_url, ws_url, http, rec, cfg
        self.rng = random.Random(index)
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.connection_seen: set[str] = set()
        self.got: dict[str, set[str]] = defaultdict(set)
        self.cursor: dict[str, str | None] = {}
        self.recent: dict[str, deque] = defaultdict(lambda: deque(maxlen=20))
        self.newest_seq: dict[str, int] = {}
        self.pending: dict[str, asyncio.Future] = {}
        self.current: str | None = None
        self.activated_at: float | None = None
        self.read_due = False
        self.last_read = 0.0
        self.dropped = False
        self.closing = False
        # Set while the person is disconnected or not yet caught up after a reconnect:
        # messages sent after it are not expected of them unless the catch-up completes.
        self.uncovered_from: float | None = None

    # --- transport ---

    def url(self, cid: str, tail: str = "") -> str:
        return f"{self.http_url}/api/v1/{PATHS[self.convs[cid][0]]}/{cid}{tail}"

    async def call(self, method: str, url: str, payload: dict | None, kind: str) -> dict | None:
        """One request; recorded; the decoded body of a 2xx, else None."""
        started = time.monotonic()
        try:
            status, data = await self.http.request(method, url, self.token, payload, REQUEST_TIMEOUT)
        except (TimeoutError, OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
            self.rec.request(started, False, kind)
            self.rec.counts[f"{kind}_{type(exc).__name__}"] += 1
            return None
        ok = 200 <= status < 300
        self.rec.request(started, ok, kind)
        if not ok:
            self.rec.counts[f"http_{status}"] += 1
            return None
        return json.loads(data) if data else {}

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        failures = 0
        while True:
            started = time.monotonic()
            try:
                ws = await connect(
                    self.ws_url,
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    origin=ORIGIN,
                    max_queue=None,
                    ping_interval=None,
                    open_timeout=REQUEST_TIMEOUT,
                )
                hello = json.loads(await asyncio.wait_for(ws.recv(), REQUEST_TIMEOUT))
                assert hello["type"] == "hello", hello
            except Exception as exc:
                self.rec.request(started, False, "ws_connect")
                # The cause tells a server that dropped the handshake (EOFError: daphne's
                # opening-handshake timeout, 5 s after the TCP accept) from a refusal.
                cause = f"_{type(exc.__cause__).__name__}" if exc.__cause__ is not None else ""
                self.rec.counts[f"ws_connect_{type(exc).__name__}{cause}"] += 1
                _report_handshake_failure(exc, time.monotonic() - started)
                failures += 1  # exponential backoff with jitter, as real clients do: 1, 2, 4 ... 30 s
                await asyncio.sleep(min(30.0, 2.0 ** (failures - 1)) * (0.5 + self.rng.random()))
                continue
            self.ws, self.dropped, self.closing = ws, False, False
            self.connection_seen = set()
            self.reader = asyncio.create_task(self.read(ws, self.connection_seen))
            if self.activated_at is None:
                self.activated_at = time.monotonic()
            return

    async def read(self, ws, seen: set) -> None:
        try:
            async for text in ws:
                self.rec.frames[int(time.monotonic())] += 1
                head = text[:40]
                if '"message.created"' in head:
                    message = json.loads(text)["message"]
                    cid = message.get("channel_id") or message.get("conversation_id")
                    mid = message["id"]
                    if mid in seen:
                        self.rec.duplicated.append(time.monotonic())
                    seen.add(mid)
                    self.got[cid].add(mid)
                    self.note(cid, message)
                    if cid == self.current and message["sender_id"] != self.user_id:
                        self.read_due = True
                elif '"message.ack"' in head or '"error"' in head:
                    frame = json.loads(text)
                    future = self.pending.pop(frame.get("client_msg_id") or "", None)
                    if future is not None and not future.done():
                        future.set_result(frame)
                    elif frame["type"] == "error":
                        self.rec.counts[f"ws_error_{frame['error']['code']}"] += 1
        except Exception:
            pass
        finally:
            if not self.closing:
                self.dropped = True
                self.uncovered_from = self.uncovered_from or time.monotonic()
                self.rec.counts["socket_dropped_by_server"] += 1
            for future in list(self.pending.values()):
                if not future.done():
                    future.set_result({"type": "closed"})

    def note(self, cid: str, message: dict) -> None:
        self.recent[cid].append((message["id"], message.get("thread_id") is None and message["type"] == "TEXT"))
        self.newest_seq[cid] = max(self.newest_seq.get(cid, 0), message["seq"])

    def take_page(self, cid: str, page: dict, *, update_cursor: bool = True) -> None:
        for message in page["results"]:
            self.got[cid].add(message["id"])
            self.note(cid, message)
        if update_cursor and page.get("after_cursor"):
            self.cursor[cid] = page["after_cursor"]

    # --- behaviour ---

    async def boot(self) -> None:
        await self.connect()
        await self.call("GET", f"{self.http_url}/api/v1/conversations?limit=50", None, "boot")
        for cid in self.convs:
            page = await self.call("GET", self.url(cid, "/messages?limit=1"), None, "boot")
            if page is not None:
                self.take_page(cid, page)
            else:
                self.rec.counts["boot_without_cursor"] += 1

    async def switch(self) -> None:
        weights = [(g, w) for g, w in SWITCH_WEIGHTS.items() if self.by_group.get(g)]
        group = self.rng.choices([g for g, _ in weights], [w for _, w in weights])[0]
        cid = self.rng.choice(self.by_group[group])
        self.current = cid
        page = await self.call("GET", self.url(cid, "/messages?limit=50"), None, "history")
        if page is None:
            return
        self.take_page(cid, page)
        if self.rng.random() < 0.3 and page.get("has_more") and page.get("before_cursor"):
            older = await self.call(
                "GET", self.url(cid, f"/messages?limit=50&before={quote(page['before_cursor'])}"), None, "history"
            )
            if older is not None:
                self.take_page(cid, older, update_cursor=False)
        await self.mark_read(cid)

    async def mark_read(self, cid: str) -> None:
        seq = self.newest_seq.get(cid)
        self.read_due = False
        self.last_read = time.monotonic()
        if seq:
            await self.call("PUT", self.url(cid, "/read"), {"seq": seq}, "read")

    async def send(self, stop_at: float) -> None:
        cid = self.current
        kind = self.convs[cid][0]
        for _ in range(1 if self.rng.random() < 0.5 else 2):
            await self.ws_send({"type": "typing", FIELD[kind]: cid})
            await asyncio.sleep(0.5 + self.rng.random() * 1.5)
        roots = [mid for mid, is_root in self.recent[cid] if is_root]
        payload = {"content": f"capacity {self.i} {uuid.uuid4().hex[:12]}", "client_msg_id": uuid.uuid4().hex}
        use_ws = self.rng.random() < 0.3
        if roots and self.rng.random() < 0.18:
            root = self.rng.choice(roots)
            await self.call("GET", self.url(cid, f"/messages/{root}/replies?limit=50"), None, "thread")
            payload["thread_id"], use_ws = root, False
        started = time.monotonic()
        attempt = 0
        while True:
            message = None
            if use_ws and attempt % 2 == 0 and not self.dropped:
                message = await self.ws_message_send(cid, payload)
            else:
                message = await self.call("POST", self.url(cid, "/messages"), payload, "send")
            if message is not None:
                self.rec.acks.append((cid, message["id"], started))
                self.rec.counts["acked"] += 1
                return
            attempt += 1
            self.rec.counts["send_retried"] += 1
            if time.monotonic() > stop_at:
                self.rec.counts["send_gave_up"] += 1
                return
            await asyncio.sleep(min(5.0, 0.5 * attempt) + self.rng.random())

    async def ws_send(self, frame: dict) -> bool:
        try:
            await self.ws.send(json.dumps(frame, separators=(",", ":")))
            return True
        except Exception:
            return False

    async def ws_message_send(self, cid: str, payload: dict) -> dict | None:
        started = time.monotonic()
        future = asyncio.get_running_loop().create_future()
        self.pending[payload["client_msg_id"]] = future
        frame = {"type": "message.send", FIELD[self.convs[cid][0]]: cid, **payload}
        if not await self.ws_send(frame):
            self.pending.pop(payload["client_msg_id"], None)
            self.rec.request(started, False, "ws_send")
            return None
        try:
            answer = await asyncio.wait_for(future, REQUEST_TIMEOUT)
        except TimeoutError:
            answer = {"type": "timeout"}
        self.pending.pop(payload["client_msg_id"], None)
        ok = answer["type"] == "message.ack"
        self.rec.request(started, ok, "ws_send")
        if not ok:
            self.rec.counts[f"ws_send_{answer['type']}"] += 1
            return None
        return answer["message"]

    async def react(self) -> None:
        recent = self.recent.get(self.current or "")
        if not recent:
            return
        mid, _ = self.rng.choice(list(recent))
        await self.call("PUT", self.url(self.current, f"/messages/{mid}/reactions/{REACTION}"), {}, "react")

    async def reconnect(self, *, by_us: bool) -> None:
        if by_us:
            self.closing = True
            self.rec.counts["reconnects"] += 1
            self.uncovered_from = self.uncovered_from or time.monotonic()
            with contextlib.suppress(Exception):
                await self.ws.close()
            await asyncio.sleep(1 + self.rng.random() * 2)
        await self.connect()
        if await self.catch_up():
            self.uncovered_from = None

    async def catch_up(self) -> bool:
        """Every conversation from its after_cursor to the newest message; False if a
        conversation could not be read (20 failed pages, with backoff)."""
        for cid in self.convs:
            cursor, failures = self.cursor.get(cid), 0
            while True:
                params = "limit=200" + (f"&after={quote(cursor)}" if cursor else "")
                page = await self.call("GET", self.url(cid, f"/messages?{params}"), None, "catch_up")
                if page is None:
                    failures += 1
                    if failures >= 20:
                        return False
                    await asyncio.sleep(min(10.0, 0.5 * 2**failures))
                    continue
                self.take_page(cid, page)
                cursor = self.cursor.get(cid)
                if not page.get("has_more") or not cursor:
                    break
        return True

    async def live(self, stop: asyncio.Event, stop_at: list[float]) -> None:
        cfg, now = self.cfg, time.monotonic()
        due = {
            "switch": now,
            "send": now + self.rng.expovariate(1 / cfg["send_interval"]),
            "react": now + self.rng.expovariate(1 / cfg["react_interval"]),
            "reconnect": now + self.rng.expovariate(1 / cfg["reconnect_interval"]),
        }
        while not stop.is_set():
            if self.dropped:
                await self.reconnect(by_us=False)
                continue
            action = min(due, key=due.get)
            wait = due[action] - time.monotonic()
            if self.read_due and self.current and time.monotonic() - self.last_read >= cfg["read_interval"]:
                await self.mark_read(self.current)
                continue
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(wait, 1.0))
                continue
            if action == "switch":
                await self.switch()
            elif action == "send" and self.current:
                await self.send(stop_at[0])
            elif action == "react":
                await self.react()
            elif action == "reconnect":
                await self.reconnect(by_us=True)
            interval = cfg[f"{action}_interval"]
            due[action] = time.monotonic() + self.rng.expovariate(1 / interval)

    def lost(self, acks) -> list[float]:
        """Send times of the acknowledged messages of this person's conversations, sent
        after it was active, that it never got (socket or catch-up)."""
        if self.activated_at is None:
            return []
        # A person still disconnected (or not caught up) at the end is not a connected
        # member: what was sent after it dropped (5 s of frames in flight before) is not
        # counted against it.
        until = float("inf") if self.uncovered_from is None else self.uncovered_from - 5.0
        return [
            t
            for cid, mid, t in acks
            if cid in self.convs and self.activated_at < t < until and mid not in self.got[cid]
        ]


async def _client(worker: int, people: list[tuple[int, dict, str, str]], cfg: dict, conn) -> None:
    """A client process: activates its people when told, runs them, reports."""
    raise_nofile_limit()
    loop = asyncio.get_running_loop()
    rec, http = Recorder(), Http()
    stop, stop_at = asyncio.Event(), [float("inf")]
    persons = [Person(i, spec, h, w, http, rec, cfg) for i, spec, h, w in people]
    tasks: list[asyncio.Task] = []
    active = 0

    async def arrive(person: Person, delay: float, booted: asyncio.Event) -> None:
        await asyncio.sleep(delay)
        await person.boot()
        booted.set()
        if not stop.is_set():
            await person.live(stop, stop_at)

    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command[0] == "activate":
            _, upto, ramp = command
            new = [p for p in persons[active:] if p.i < upto]
            spacing = ramp / max(1, len(new))
            booted = [asyncio.Event() for _ in new]
            tasks += [asyncio.create_task(arrive(p, k * spacing, booted[k])) for k, p in enumerate(new)]
            active += len(new)
            # A person who cannot start (refused sockets, boot requests that fail) keeps
            # trying in the background; the step goes on without them after the deadline.
            waits = [asyncio.create_task(b.wait()) for b in booted]
            if waits:
                _done, late = await asyncio.wait(waits, timeout=ramp + cfg["boot_timeout"])
                for wait in late:
                    wait.cancel()
            conn.send(("active", active, sum(1 for b in booted if not b.is_set())))
        elif command[0] == "stop":
            stop_at[0] = time.monotonic() + cfg["drain"] * 4
            stop.set()
            _done, pending = await asyncio.wait(tasks, timeout=cfg["drain"] * 4 + 30) if tasks else (set(), set())
            for task in pending:  # still booting (e.g. a socket refused again and again)
                task.cancel()
            rec.counts["people_cancelled_at_stop"] += len(pending)
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(cfg["drain"])
            conn.send(("records", rec.requests, rec.acks, dict(rec.counts), dict(rec.frames)))
        elif command[0] == "peek":
            _, start, end = command
            conn.send(("peek", [r for r in rec.requests if start <= r[0] < end]))
        elif command[0] == "check":
            acks = command[1]
            lost = [t for p in persons for t in p.lost(acks)]
            disconnected = sum(1 for p in persons if p.uncovered_from is not None)
            conn.send(("lost", lost, rec.duplicated, disconnected))
        elif command[0] == "close":
            for p in persons:
                p.closing = True
                if p.ws is not None:
                    await p.ws.close()
            await http.close()
            conn.send(("closed",))
            return


def _client_child(worker, people, cfg, conn) -> None:
    asyncio.run(_client(worker, people, cfg, conn))


# --- measuring the machine -------------------------------------------------------------------


def find_store_pids() -> dict[str, list[int]]:
    """The processes of this checkout's stores, found by their ports in /proc: PostgreSQL
    (the postmaster and its children), FerretDB, Redis."""
    ports = {
        k: os.environ.get(k, d) for k, d in (("PG_PORT", "55432"), ("MONGO_PORT", "57017"), ("REDIS_PORT", "56379"))
    }
    procs = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            procs[int(entry.name)] = (cmd, ppid)
    found: dict[str, list[int]] = {"postgres": [], "ferretdb": [], "redis": []}
    for pid, (cmd, _) in procs.items():
        if "postgres" in cmd and f"-p {ports['PG_PORT']}" in cmd:
            found["postgres"] = [pid] + [c for c, (_, pp) in procs.items() if pp == pid]
        elif "ferretdb" in cmd and f":{ports['MONGO_PORT']}" in cmd:
            found["ferretdb"].append(pid)
        elif "redis-server" in cmd and f":{ports['REDIS_PORT']}" in cmd:
            found["redis"].append(pid)
    return found


def machine_busy() -> tuple[float, float]:
    """(busy jiffies, total jiffies) of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuMeter:
    """Per-process CPU (% of one core) over a window: each server process, the stores, the clients."""

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups

    def snapshot(self) -> dict:
        stores = find_store_pids()
        groups = {**self.groups, **stores}
        snap = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}
        if stores["postgres"]:
            snap["postgres"] += cpu_seconds(stores["postgres"][0], reaped_children=True)  # exited backends
        snap["_machine"] = machine_busy()
        snap["_t"] = time.monotonic()
        return snap

    @staticmethod
    def delta(a: dict, b: dict) -> dict:
        wall = b["_t"] - a["_t"]
        out = {k: 100 * (b.get(k, 0.0) - a.get(k, 0.0)) / wall for k in b if not k.startswith("_")}
        busy = b["_machine"][0] - a["_machine"][0]
        total = b["_machine"][1] - a["_machine"][1]
        out["machine_busy_pct"] = 100 * busy / max(1, total)
        return out


def py_spy(pids: list[int], seconds: float, out_dir: Path, tag: str) -> list[subprocess.Popen]:
    spy = ROOT / ".venv" / "bin" / "py-spy"
    procs = []
    for n, pid in enumerate(pids):
        out = out_dir / f"{tag}-server{n}.txt"
        procs.append(
            subprocess.Popen(
                [
                    str(spy),
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(max(1, int(seconds))),
                    "--rate",
                    "50",
                    "--format",
                    "raw",
                    "--gil",
                    "--nonblocking",
                    "--output",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs


def summarise_profile(path: Path, seconds: float, top: int = 6) -> str:
    """py-spy's raw (collapsed) stacks, recorded with --gil (50 samples/s of the thread
    holding the GIL, so samples/s / 50 = the share of time the process runs Python: 1.0
    is a saturated process), the share of samples per leaf function, and per project
    function anywhere on the stack (inclusive; middleware left out)."""
    if not path.exists():
        return "(no profile)"
    leaf, inclusive, total = Counter(), Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        raw = stack.split(";")
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")" for f in raw]
        leaf[frames[-1]] += n
        for frame, path in set(zip(frames, raw, strict=True)):
            module = path.split(" (")[-1].split("/")[0]
            if module in PROJECT_PACKAGES and "Middleware" not in frame and "wrapper" not in frame:  # own code
                inclusive[frame] += n
    if not total:
        return "(no samples)"
    leafs = ", ".join(f"{name} {100 * c / total:.0f}%" for name, c in leaf.most_common(top))
    incl = ", ".join(f"{name} {100 * c / total:.0f}%" for name, c in inclusive.most_common(top))
    busy = total / 50 / seconds
    return f"{total} samples (GIL held {100 * busy:.0f}% of the time); leaf: {leafs}; project (inclusive): {incl}"


# --- the ramp ----------------------------------------------------------------------------------


def step_figures(requests, window: tuple[float, float], span: tuple[float, float] | None = None) -> dict:
    """Latency over the hold (`window`: every person of the step active, boot requests left
    out); errors over the whole `span` (the step's ramp and hold, default the window), so
    that none goes unseen: failed requests (boot included) and refused sockets, over the
    span's requests."""
    start, end = window
    inside = [r for r in requests if start <= r[0] < end and r[3] not in ("boot", "ws_connect")]
    span_start, span_end = span or window
    spanned = [r for r in requests if span_start <= r[0] < span_end]
    latencies = [r[1] * 1000 for r in inside]
    errors = sum(1 for r in spanned if not r[2])
    n = len(inside)
    by_kind: dict[str, list[float]] = defaultdict(list)
    for r in inside:
        by_kind[r[3]].append(r[1] * 1000)
    kinds = {k: (len(v), sum(v) / len(v), percentile(v, 99)) for k, v in sorted(by_kind.items())}
    return {
        "requests": n,
        "rps": n / max(1e-9, end - start),
        "avg_ms": sum(latencies) / n if n else float("nan"),
        "p99_ms": percentile(latencies, 99),
        "errors": errors,
        "error_pct": 100 * errors / max(1, len(spanned)),
        "kinds": kinds,
    }


def verdict(fig: dict) -> list[str]:
    broken = []
    if not fig["requests"]:
        broken.append("no requests")
    if fig["avg_ms"] > THRESHOLDS["avg_ms"]:
        broken.append(f"avg {fig['avg_ms']:.0f} ms > 100")
    if fig["p99_ms"] > THRESHOLDS["p99_ms"]:
        broken.append(f"p99 {fig['p99_ms']:.0f} ms > 2000")
    if fig["error_pct"] > THRESHOLDS["error_pct"]:
        broken.append(f"errors {fig['error_pct']:.3f}% > 0.025%")
    if fig.get("not_started"):
        broken.append(f"{fig['not_started']} people could not start (boot) within the ramp + boot timeout")
    if fig.get("lost"):
        broken.append(f"lost {fig['lost']}")
    if fig.get("duplicated"):
        broken.append(f"duplicated {fig['duplicated']}")
    return broken


def run(args, people: list[dict], servers: list[tuple[str, object]], profile_dir: Path) -> dict:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    http_urls = [u for u, _ in servers]
    ws_urls = [u.replace("http", "ws", 1) + "/ws/v1/" for u in http_urls]
    cfg = {
        "send_interval": args.send_interval,
        "switch_interval": args.switch_interval,
        "react_interval": args.react_interval,
        "reconnect_interval": args.reconnect_interval,
        "read_interval": args.read_interval,
        "drain": args.drain,
        "boot_timeout": args.boot_timeout,
    }
    workers = []
    for w in range(args.workers):
        mine = [
            (i, people[i], http_urls[i % len(http_urls)], ws_urls[i % len(ws_urls)])
            for i in range(w, len(people), args.workers)
        ]
        parent_end, child_end = ctx.Pipe()
        process = ctx.Process(target=_client_child, args=(w, mine, cfg, child_end))
        process.start()
        workers.append((process, parent_end))
    server_pids = [p.pid for _, p in servers]
    meter = CpuMeter(
        {
            **{f"server{n}": [pid] for n, pid in enumerate(server_pids)},
            "clients": [p.pid for p, _ in workers] + [os.getpid()],
        }
    )

    def ask_all(message) -> list:
        for _, conn in workers:
            conn.send(message)
        return [conn.recv() for _, conn in workers]

    steps = [args.baseline_people, *args.step_list]
    results = []
    try:
        for k, target in enumerate(steps):
            t0 = time.monotonic()
            not_started = sum(reply[2] for reply in ask_all(("activate", target, args.ramp if k else 1.0)))
            ramp_s = time.monotonic() - t0
            hold = args.hold if k else max(args.hold / 3, min(args.hold, 20.0))
            before = meter.snapshot()
            spies = []
            if args.profile_seconds > 0 and k:
                time.sleep(max(0.0, (hold - args.profile_seconds) / 2))
                spies = py_spy(server_pids, args.profile_seconds, profile_dir, f"step{target}")
                time.sleep(max(0.0, hold - (time.monotonic() - before["_t"])))
            else:
                time.sleep(hold)
            after = meter.snapshot()
            for spy in spies:
                spy.wait(30)
            load = os.getloadavg()[0]
            step = {
                "people": target,
                "baseline": k == 0,
                "window": (before["_t"], after["_t"]),
                "span": (results[-1]["span"][1] if results else t0, after["_t"]),
                "ramp_s": ramp_s,
                "not_started": not_started,
                "cpu": CpuMeter.delta(before, after),
                "load1": load,
                "profiles": [
                    summarise_profile(profile_dir / f"step{target}-server{n}.txt", args.profile_seconds)
                    for n in range(len(server_pids))
                    if spies
                ],
            }
            results.append(step)
            cpu = step["cpu"]
            print(
                f"[capacity] {target} people active (ramp {ramp_s:.0f} s), held {hold:.0f} s: CPU % of a core "
                + ", ".join(f"{name} {v:.0f}" for name, v in cpu.items())
                + f"; load {load:.1f}",
                flush=True,
            )
            if k and not args.keep_going:
                # the step's latency and errors so far (losses are known only at the end)
                window, span = step["window"], step["span"]
                peek = [r for reply in ask_all(("peek", *span)) for r in reply[1]]
                broken = verdict({**step_figures(peek, window, span), "not_started": not_started})
                if broken:
                    print(f"[capacity] {target} people: {'; '.join(broken)}: the ramp stops here", flush=True)
                    break
        records = ask_all(("stop",))
        requests = [r for rec in records for r in rec[1]]
        acks = [a for rec in records for a in rec[2]]
        counts, frames = Counter(), Counter()
        for rec in records:
            counts.update(rec[3])
            frames.update(rec[4])
        checks = ask_all(("check", acks))
        lost_times = [t for c in checks for t in c[1]]
        duplicated = [t for c in checks for t in c[2]]
        counts["people_disconnected_at_end"] = sum(c[3] for c in checks)
        ask_all(("close",))
    finally:
        for process, _ in workers:
            process.join(30)
            if process.is_alive():
                process.kill()
    for step in results:
        fig = step_figures(requests, step["window"], step["span"])
        start, end = step["span"]  # losses and duplicates: from the step's ramp on
        fig["lost"] = sum(1 for t in lost_times if start <= t < end)
        fig["duplicated"] = sum(1 for t in duplicated if start <= t < end)
        fig["sent"] = sum(1 for a in acks if start <= a[2] < end)
        hold_start, hold_end = step["window"]
        fig["frames_per_s"] = sum(v for t, v in frames.items() if hold_start <= t < hold_end) / (hold_end - hold_start)
        server_cores = sum(v for k, v in step["cpu"].items() if k.startswith("server")) / 100
        fig["server_ms_per_request"] = 1000 * server_cores / max(1e-9, fig["rps"])
        step.update(fig)
    return {
        "steps": results,
        "counts": counts,
        "lost_total": len(lost_times),
        "duplicated_total": len(duplicated),
        "acked": len(acks),
    }


# --- report ------------------------------------------------------------------------------------


def cpu_cell(cpu: dict, name: str) -> str:
    return f"{cpu.get(name, float('nan')):.0f}"


def report(args, out: dict, load_before: tuple, load_after: tuple, seconds: float) -> None:
    steps = out["steps"]
    names = [k for k in steps[0]["cpu"] if k.startswith("server")] + ["postgres", "ferretdb", "redis", "clients"]
    served = f" of {args.code}" if args.code else ""
    print(
        f"\ncapacity: {args.servers} {args.server} processes{served}, {args.workers} client processes; sends every "
        f"{args.send_interval:.0f} s, switches every {args.switch_interval:.0f} s, reactions every "
        f"{args.react_interval:.0f} s, socket drops every {args.reconnect_interval:.0f} s per person; "
        f"steps held {args.hold:.0f} s; {seconds:.0f} s in all"
    )
    before, after = (" / ".join(f"{x:.2f}" for x in load) for load in (load_before, load_after))
    print(f"load average before {before}, after {after} (1/5/15 min)")
    header = (
        "| people | req/s | frames/s | avg ms | p99 ms | errors | sent | lost | dup | server CPU ms/req "
        "| CPU % of a core: " + " / ".join(names) + " | machine busy % | load 1m | thresholds |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    passing, first_break = None, None
    for step in steps:
        broken = verdict(step)
        label = "baseline" if step["baseline"] else ("PASS" if not broken else "FAIL: " + "; ".join(broken))
        if not step["baseline"]:
            if not broken and first_break is None:
                passing = step["people"]
            elif broken and first_break is None:
                first_break = (step, broken)
        cpu = step["cpu"]
        print(
            f"| {step['people']} | {step['rps']:.1f} | {step['frames_per_s']:.0f} | {step['avg_ms']:.1f} | "
            f"{step['p99_ms']:.0f} | {step['errors']} ({step['error_pct']:.3f}%) | {step['sent']} | {step['lost']} | "
            f"{step['duplicated']} | {step['server_ms_per_request']:.0f} | "
            + " / ".join(cpu_cell(cpu, n) for n in names)
            + f" | {cpu['machine_busy_pct']:.0f} | {step['load1']:.1f} | {label} |"
        )
    counts = out["counts"]
    print("client counters: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    print(
        f"whole run: acked {out['acked']}, lost {out['lost_total']}, duplicated {out['duplicated_total']} "
        "(losses and duplicates are attributed to the step during whose ramp or hold the message was sent)"
    )
    for step in steps:
        kinds = ", ".join(f"{k} {n} ({avg:.0f}/{p99:.0f})" for k, (n, avg, p99) in step["kinds"].items())
        print(f"  requests at {step['people']} (count, avg/p99 ms): {kinds}")
    shown = first_break[0] if first_break else steps[-1]
    for n, profile in enumerate(shown.get("profiles", [])):
        print(f"py-spy of server{n} at {shown['people']} people: {profile}")
    if first_break:
        step, broken = first_break
        cpu = step["cpu"]
        top = sorted(((v, k) for k, v in cpu.items() if k != "machine_busy_pct"), reverse=True)[:3]
        print(
            f"FIRST BREAK at {step['people']} people: {'; '.join(broken)}. Busiest: "
            + ", ".join(f"{k} {v:.0f}% of a core" for v, k in top)
            + f"; the machine's 2 cores {cpu['machine_busy_pct']:.0f}% busy"
        )
    print(
        f"CAPACITY: {passing if passing is not None else 0} active people hold every threshold (goal >= {GOAL_PEOPLE})"
    )
    baseline = steps[0]
    tried = max(s["people"] for s in steps)
    ours = f"{passing or 0} people" + (
        f" (first break at {first_break[0]['people']})" if first_break else f" (every step up to {tried} passed)"
    )
    emit_row(
        f"5 capacity: active people at avg <= 100 ms, p99 <= 2 s, errors <= 0.025%, 0 lost/dup >= {GOAL_PEOPLE}",
        f"{baseline['people']} people: avg {baseline['avg_ms']:.0f} ms p99 {baseline['p99_ms']:.0f} ms",
        ours,
        f"{(passing or 0) / GOAL_PEOPLE:.2f}",
        (passing or 0) >= GOAL_PEOPLE,
        "; ".join(first_break[1]) if first_break else "",
    )


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    raise_nofile_limit()
    run_id = uuid.uuid4().hex[:6]
    database = f"capacity_{run_id}"
    os.environ["MONGO_DB"] = database  # the servers, the index script and this process
    django_setup(args.settings)
    subprocess.run(
        [sys.executable, "manage.py", "ensure_mongo_indexes"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    load_before = os.getloadavg()
    n = max([*args.step_list, args.baseline_people])
    t = time.monotonic()
    people, members = build_world(n, run_id)
    print(
        f"[capacity] workspace for {n} people in {time.monotonic() - t:.1f} s: {len(members)} conversations, "
        f"{sum(len(p['convs']) for p in people) / n:.1f} per person; MongoDB database {database}",
        flush=True,
    )
    log_dir = Path("/tmp/slackclone-capacity-logs")
    servers = []
    try:
        servers = [start_server(args.server, log_dir, args.settings, code=args.code) for _ in range(args.servers)]
        for url, process in servers:
            wait_http(url, process, timeout=60)
        profile_dir = log_dir / run_id
        profile_dir.mkdir(parents=True, exist_ok=True)
        out = run(args, people, servers, profile_dir)
    finally:
        stop_processes([p for _, p in servers])
        try:
            remove_world(people, members)
        finally:
            from messaging.mongo import get_client

            get_client().drop_database(database)
    report(args, out, load_before, os.getloadavg(), time.monotonic() - started)


if __name__ == "__main__":
    main()
