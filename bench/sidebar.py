#!/usr/bin/env python
"""The sidebar (issue 16): p50/p99 of the first page of GET /conversations for a user in
--conversations conversations (default 500: 300 channels, 150 DMs, 50 group DMs, each
with a latest message), through the API.

Baseline, measured in the same run against the same server: the first page of GET
/api/v1/dms (a plain one-table keyset list through the same stack), and the bare page
query (messaging.sidebar.conversations_list called directly: what the API adds is the
rest). Requests are sequential (latency, not throughput).

    .venv/bin/python bench/sidebar.py                      # a daphne process started here
    .venv/bin/python bench/sidebar.py --in-process         # Django's test Client
    .venv/bin/python bench/sidebar.py --conversations 2000 --requests 300

Everything is created in a fresh workspace, removed at the end unless --keep.
"""

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackclone.settings")

import faulthandler

import django
from common import emit_row, percentile, start_web_server, stop_processes, wait_http  # before setup(): its environment

if os.environ.get("BENCH_DEBUG"):
    faulthandler.dump_traceback_later(25, exit=True)

django.setup()

from django.db import connection  # noqa: E402

from accounts.models import User, Workspace, WorkspaceMember  # noqa: E402
from accounts.services import token_create  # noqa: E402
from channels_app.models import Channel, ChannelMember  # noqa: E402
from dms.models import DmConversation, GroupDm, GroupDmMember  # noqa: E402
from dms.selectors import group_dm_member_key  # noqa: E402
from dms.services import dm_pair  # noqa: E402
from messaging import sidebar  # noqa: E402
from messaging.models import MessageSequence  # noqa: E402


def seed(tag: str, total: int):
    workspace = Workspace.objects.create(slug=f"bench-{tag}", name="Sidebar bench", joining="invite_only")
    me = User.objects.create_user(f"sb-{tag}", f"sb-{tag}@example.com", None)  # no password: no hashing
    WorkspaceMember.objects.create(workspace=workspace, user=me)
    channels, dms, groups = total * 3 // 5, total * 3 // 10, total - total * 3 // 5 - total * 3 // 10
    others = [User.objects.create_user(f"sb-{tag}-{n}", f"sb-{tag}-{n}@example.com", None) for n in range(dms + 2)]
    WorkspaceMember.objects.bulk_create([WorkspaceMember(workspace=workspace, user=u) for u in others])
    chans = Channel.objects.bulk_create(
        [Channel(workspace=workspace, name=f"c{n}", created_by=me) for n in range(channels)]
    )
    ChannelMember.objects.bulk_create([ChannelMember(channel=c, user=me) for c in chans])
    pairs = [dm_pair(me.pk, other.pk) for other in others[:dms]]
    conversations = DmConversation.objects.bulk_create(
        [DmConversation(workspace=workspace, user1_id=a, user2_id=b) for a, b in pairs]
    )
    group_rows, members = [], []
    for n in range(groups):
        people = [me.pk, others[n % len(others)].pk, others[(n + 1) % len(others)].pk, others[(n + 2) % len(others)].pk]
        group = GroupDm(workspace=workspace, member_key=group_dm_member_key(people) + f"#{n}", created_by=me)
        group_rows.append(group)
        members += [GroupDmMember(group_dm=group, user_id=uid) for uid in people]
    GroupDm.objects.bulk_create(group_rows)
    GroupDmMember.objects.bulk_create(members)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = (
        [(c.pk, "channel") for c in chans] + [(d.pk, "dm") for d in conversations] + [(g.pk, "dm") for g in group_rows]
    )
    MessageSequence.objects.bulk_create(
        [
            MessageSequence(
                conversation_id=pk,
                kind=kind,
                last_seq=10,
                last_created_at=start + timedelta(seconds=n),
                latest_seq=10,
                latest_created_at=start + timedelta(seconds=n),
                latest_sender_id=me.pk,
                latest_preview=f"message {n} " + "x" * 100,
            )
            for n, (pk, kind) in enumerate(ids)
        ]
    )
    return workspace, me, [pk for pk, _ in ids]


def measure(call, requests: int) -> tuple[float, float]:
    for _ in range(5):
        call()  # warm-up
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50), percentile(times, 99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--in-process", action="store_true", help="use Django's test Client, not a daphne process")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    workspace, me, conversation_ids = seed(tag, args.conversations)
    membership = WorkspaceMember.objects.get(workspace=workspace, user=me)
    token = token_create(user=me, membership=membership)
    server = None
    try:
        if args.in_process:
            from django.test import Client

            client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {token}")

            def get(path):
                response = client.get(path)
                assert response.status_code == 200, response.content
                return response.json()

            through = "in-process test Client"
        else:
            import httpx

            log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"slackclone-bench-sidebar-{tag}"
            log_dir.mkdir(parents=True, exist_ok=True)
            base_url, server = start_web_server(log_dir, os.environ["DJANGO_SETTINGS_MODULE"])
            wait_http(base_url, server)
            http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

            def get(path):
                response = http.get(path)
                assert response.status_code == 200, response.text
                return response.json()

            through = f"HTTP {base_url}"
        first = get("/api/v1/conversations")
        assert len(first["results"]) == 50 and first["next_cursor"]
        assert first["results"][0]["id"] == str(conversation_ids[-1])  # the most recent activity
        ours = measure(lambda: get("/api/v1/conversations"), args.requests)
        dms = measure(lambda: get("/api/v1/dms"), args.requests)
        raw = measure(
            lambda: sidebar.conversations_list(user=me, workspace=workspace, kinds=list(sidebar.KINDS)),
            args.requests,
        )
        connection.close()
        print(f"sidebar bench: a user in {args.conversations} conversations, first page of 50, through {through}")
        print(f"  GET /conversations        p50 {ours[0]:7.2f} ms   p99 {ours[1]:7.2f} ms")
        print(f"  GET /dms (baseline)       p50 {dms[0]:7.2f} ms   p99 {dms[1]:7.2f} ms")
        print(f"  page query only (baseline) p50 {raw[0]:7.2f} ms   p99 {raw[1]:7.2f} ms")
        emit_row(
            f"sidebar first page p99, {args.conversations} conversations",
            f"GET /dms p99 {dms[1]:.1f} ms",
            f"{ours[1]:.1f} ms",
            f"{ours[1] / dms[1]:.2f}x",
            None,
            "no numeric goal in the issue; baseline from the same run",
        )
    finally:
        stop_processes([server])
        if not args.keep:
            others = list(WorkspaceMember.objects.filter(workspace=workspace).values_list("user_id", flat=True))
            MessageSequence.objects.filter(conversation_id__in=conversation_ids).delete()
            workspace.delete()
            User.objects.filter(pk__in=others).delete()


if __name__ == "__main__":
    main()
