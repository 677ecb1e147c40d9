"""Demo data for local use (`manage.py seed_demo`): users, channels, memberships, DMs
and messages, idempotent.

Fixed names make it idempotent: users `demo`, `alice`, `bob`, ... (then
`demo-user-<n>`), channels `general`, `random`, ... (then `demo-channel-<n>`), found or
created; memberships and DMs are inserted with ON CONFLICT DO NOTHING; messages are
only topped up to the target count over the seeded conversations. PostgreSQL rows are
written with the ORM directly (no SYSTEM messages, no realtime events: nobody is
connected to announce them to); messages go through messaging.services.messages_import,
which assigns seq in bulk under the conversation's lock, in batches, and broadcasts
nothing.
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth.hashers import make_password
from django.db import transaction

from accounts.models import User, Workspace, WorkspaceMember, default_workspace_id
from channels_app.models import Channel, ChannelMember
from dms.models import DmConversation
from dms.services import dm_pair
from messaging.documents import Conversation, ConversationKind
from messaging.services import MessageDraft, conversation_message_count, messages_import
from slackclone import errors

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password-123"  # documented; local demo data only
DEMO_EMAIL_DOMAIN = "demo.slackclone.test"
_NAMES = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
]  # fmt: skip
_CHANNELS = [
    ("general", "Company-wide announcements and chatter"),
    ("random", "Anything goes"),
    ("engineering", "Builds, deploys and code review"),
    ("design", "Mock-ups and feedback"),
    ("support", "Customer questions"),
]
_DM_PARTNERS = 4  # the demo user has a DM with this many others
_CHANNEL_WEIGHT, _DM_WEIGHT = 4, 1  # share of the messages per conversation
_HISTORY_DAYS = 30  # seeded messages are spread over this many past days
_WORDS = (  # noqa: SIM905 (reads better as a sentence)
    "the deploy is green again can someone review my pull request lunch is here standup in five minutes "
    "shipping the new onboarding flow today who broke the build thanks for the quick fix coffee anyone "
    "the dashboard looks great please update the ticket I pushed a patch let us sync after the meeting "
    "release notes are ready the customer loved the demo tests pass locally retro tomorrow at ten"
).split()


def usernames(count: int) -> list[str]:
    names = [DEMO_USERNAME, *_NAMES]
    names += [f"demo-user-{n}" for n in range(len(names), count)]
    return names[:count]


def channel_specs(count: int) -> list[tuple[str, str]]:
    specs = list(_CHANNELS)
    specs += [(f"demo-channel-{n}", "Generated demo channel") for n in range(len(specs) + 1, count + 1)]
    return specs[:count]


@dataclass
class SeedResult:
    users_created: int = 0
    channels_created: int = 0
    memberships_created: int = 0
    dms_created: int = 0
    messages_before: int = 0
    messages_created: int = 0
    seconds: float = 0.0


def seed_people_and_places(
    *,
    users: int,
    channels: int,
    result: SeedResult,
    workspace: Workspace | None = None,
    names: list[str] | None = None,
    specs: list[tuple[str, str]] | None = None,
):
    """Users, channels, memberships and DMs of `workspace` (default: the default one),
    the users made members of it (the first one, the demo user, its owner); returns
    (users in order, conversations)."""
    workspace = workspace or Workspace.objects.get(pk=default_workspace_id())
    names = names or usernames(users)
    with transaction.atomic():
        existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
        missing = [name for name in names if name not in existing]
        if missing:
            password = make_password(DEMO_PASSWORD)  # hashed once (Argon2 is slow by design)
            User.objects.bulk_create(
                [
                    User(
                        username=name,
                        email=f"{name}@{DEMO_EMAIL_DOMAIN}",
                        display_name=name.replace("-", " ").title(),
                        password=password,
                    )
                    for name in missing
                ],
                ignore_conflicts=True,
            )
        by_name = {user.username: user for user in User.objects.filter(username__in=names)}
        result.users_created = len(by_name) - len(existing)
        people = [by_name[name] for name in names if name in by_name]
        demo = by_name.get(names[0])
        if demo is None or len(people) < len(names):
            taken = sorted(set(names) - set(by_name))
            raise errors.Conflict(f"Could not create the demo users {taken}: their emails are taken by other users.")

        WorkspaceMember.objects.bulk_create(
            [
                WorkspaceMember(workspace=workspace, user=user, role="owner" if user is demo else "member")
                for user in people
            ],
            ignore_conflicts=True,
        )
        specs = specs or channel_specs(channels)
        in_workspace = Channel.objects.filter(workspace=workspace)
        present = set(in_workspace.filter(name__in=[name for name, _ in specs]).values_list("name", flat=True))
        Channel.objects.bulk_create(
            [
                Channel(workspace=workspace, name=name, description=text, created_by=demo)
                for name, text in specs
                if name not in present
            ],
            ignore_conflicts=True,
        )
        by_channel = {channel.name: channel for channel in in_workspace.filter(name__in=[n for n, _ in specs])}
        result.channels_created = len(by_channel) - len(present)
        seeded_channels = [by_channel[name] for name, _ in specs]

        # Everyone is in the first channel; every other channel has the demo user and
        # every other person (a different half for each channel).
        wanted = [
            ChannelMember(channel=channel, user=user)
            for index, channel in enumerate(seeded_channels)
            for position, user in enumerate(people)
            if index == 0 or user is demo or (position + index) % 2 == 0
        ]
        before = ChannelMember.objects.filter(channel__in=seeded_channels).count()
        ChannelMember.objects.bulk_create(wanted, ignore_conflicts=True)
        result.memberships_created = ChannelMember.objects.filter(channel__in=seeded_channels).count() - before

        pairs = [dm_pair(demo.pk, other.pk) for other in people[1 : 1 + _DM_PARTNERS]]
        dm_filter = [DmConversation.objects.filter(workspace=workspace, user1_id=a, user2_id=b) for a, b in pairs]
        before = sum(query.count() for query in dm_filter)
        DmConversation.objects.bulk_create(
            [DmConversation(workspace=workspace, user1_id=a, user2_id=b) for a, b in pairs], ignore_conflicts=True
        )
        dms = [query.get() for query in dm_filter]
        result.dms_created = len(dms) - before

    members = {
        channel.pk: list(ChannelMember.objects.filter(channel=channel).values_list("user_id", flat=True))
        for channel in seeded_channels
    }
    wid = str(workspace.pk)
    conversations = [
        (Conversation(ConversationKind.CHANNEL, str(channel.pk), wid), [str(uid) for uid in members[channel.pk]])
        for channel in seeded_channels
    ] + [(Conversation(ConversationKind.DM, str(dm.pk), wid), [str(dm.user1_id), str(dm.user2_id)]) for dm in dms]
    return people, conversations


# The second workspace of `make run` (seed_demo --second-workspace): invite-only, its own
# people, channels and DMs, with the demo user as a member too (to switch between them).
SECOND_WORKSPACE = ("acme", "Acme Corp")
_SECOND_NAMES = ["acme-owner", "acme-ann", "acme-ben", "acme-cat", "acme-dan"]
_SECOND_CHANNELS = [("acme-general", "Acme's own general channel"), ("acme-launch", "The launch, in Acme only")]


def seed_second_workspace(*, messages: int, batch_size: int) -> tuple[Workspace, SeedResult]:
    """The invite-only workspace `acme` with its own users, channels, DMs and messages;
    the demo user is a member too. Idempotent like the rest."""
    slug, name = SECOND_WORKSPACE
    workspace, _ = Workspace.objects.get_or_create(
        slug=slug, defaults={"name": name, "joining": Workspace.Joining.INVITE_ONLY}
    )
    result = SeedResult()
    _people, conversations = seed_people_and_places(
        users=len(_SECOND_NAMES),
        channels=len(_SECOND_CHANNELS),
        result=result,
        workspace=workspace,
        names=_SECOND_NAMES,
        specs=_SECOND_CHANNELS,
    )
    demo = User.objects.filter(username=DEMO_USERNAME).first()
    if demo is not None:
        WorkspaceMember.objects.get_or_create(workspace=workspace, user=demo)
    seed_messages(conversations=conversations, target=messages, batch_size=batch_size, result=result)
    return workspace, result


def _shares(total: int, conversations) -> list[int]:
    """`total` messages split over the conversations by weight, remainder to the first."""
    weights = [_CHANNEL_WEIGHT if conv.kind is ConversationKind.CHANNEL else _DM_WEIGHT for conv, _ in conversations]
    shares = [total * weight // sum(weights) for weight in weights]
    shares[0] += total - sum(shares)
    return shares


def seed_messages(
    *,
    conversations,
    target: int,
    batch_size: int,
    result: SeedResult,
    progress: Callable[[int, int, float], None] | None = None,
) -> None:
    """Top up the messages of these conversations to `target` in all."""
    existing = sum(conversation_message_count(conversation=conv) for conv, _ in conversations)
    result.messages_before = existing
    to_add = max(0, target - existing)
    if not to_add:
        return
    rng = random.Random(target)  # deterministic demo text
    end = datetime.now(UTC)
    start = end - timedelta(days=_HISTORY_DAYS)
    started = time.monotonic()
    done = 0
    for (conversation, senders), share in zip(conversations, _shares(to_add, conversations), strict=True):
        step = (end - start) / max(share, 1)
        for offset in range(0, share, batch_size):
            size = min(batch_size, share - offset)
            drafts = [
                MessageDraft(
                    sender_id=rng.choice(senders),
                    content=" ".join(rng.choices(_WORDS, k=rng.randint(3, 14))).capitalize(),
                    created_at=start + step * (offset + i),
                )
                for i in range(size)
            ]
            messages_import(conversation=conversation, drafts=drafts)
            done += size
            if progress is not None:
                progress(done, to_add, time.monotonic() - started)
    result.messages_created = done
    result.seconds = time.monotonic() - started
