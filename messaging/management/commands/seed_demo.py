"""manage.py seed_demo: demo users, channels, memberships, DMs and messages (local use)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from messaging import seeding
from messaging.mongo import long_operations
from slackclone import errors


def _positive(name: str, *, minimum: int):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise CommandError(f"--{name} must be an integer >= {minimum}, not {value!r}.")
        return number

    return parse


class Command(BaseCommand):
    help = (
        "Seed demo data for local use: users (demo, alice, bob, ...), channels (general, random, ...), "
        "memberships, DMs of the demo user, and messages spread over the last 30 days, in the default workspace "
        "(DEFAULT_WORKSPACE, created open if missing). Idempotent: a second run "
        "with the same sizes creates nothing; --messages is the total over the seeded channels and DMs, topped up "
        "if some are missing. Messages are inserted in bulk (one seq reservation and one insert_many per batch), "
        f"are not broadcast, and the demo user logs in with password {seeding.DEMO_PASSWORD!r}. "
        "Never run it against production."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=_positive("users", minimum=2), default=5, help="Users (default 5).")
        parser.add_argument(
            "--channels", type=_positive("channels", minimum=1), default=3, help="Channels (default 3)."
        )
        parser.add_argument(
            "--messages",
            type=_positive("messages", minimum=0),
            default=60,
            help="Messages in all seeded channels and DMs together (default 60).",
        )
        parser.add_argument(
            "--batch-size",
            type=_positive("batch-size", minimum=1),
            default=10_000,
            help="Messages per insert (default 10000).",
        )
        parser.add_argument(
            "--second-workspace",
            action="store_true",
            help="Also seed the invite-only workspace 'acme' with its own users, channels, DMs and 200 messages, the "
            "demo user a member of both (make run does), so that the isolation between workspaces can be seen.",
        )

    def handle(self, *args, users, channels, messages, batch_size, second_workspace, **options):
        result = seeding.SeedResult()
        try:
            with long_operations():
                self._seed(users=users, channels=channels, messages=messages, batch_size=batch_size, result=result)
                if second_workspace:
                    workspace, second = seeding.seed_second_workspace(messages=200, batch_size=batch_size)
                    self.stdout.write(
                        f"second workspace {workspace.slug!r} ({workspace.joining}): {second.users_created} users, "
                        f"{second.channels_created} channels, {second.dms_created} DMs created; "
                        f"{second.messages_created} messages created (the demo user is a member: "
                        f"log in with workspace {workspace.slug!r}, or POST /auth/switch)"
                    )
        except errors.StoreUnavailable as exc:
            raise CommandError(f"{exc.message} (MongoDB {settings.MONGO_URL})") from exc
        except errors.DomainError as exc:
            raise CommandError(exc.message) from exc
        except DatabaseError as exc:
            raise CommandError(f"PostgreSQL failed: {exc}") from exc
        except Exception as exc:  # a store refused an operation: a message, not a traceback (see --traceback)
            raise CommandError(f"{exc.__class__.__name__}: {exc}") from exc

        if result.messages_created:
            rate = result.messages_created / result.seconds if result.seconds else float("inf")
            self.stdout.write(
                f"messages: {result.messages_created:,} created in {result.seconds:.1f} s ({rate:,.0f} messages/s); "
                f"{result.messages_before + result.messages_created:,} in the seeded conversations"
            )
        else:
            self.stdout.write(f"messages: none created, {result.messages_before:,} already there (target {messages:,})")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login (local use only): username {seeding.DEMO_USERNAME!r}, password {seeding.DEMO_PASSWORD!r}"
            )
        )

    def _seed(self, *, users, channels, messages, batch_size, result) -> None:
        _people, conversations = seeding.seed_people_and_places(users=users, channels=channels, result=result)
        self.stdout.write(
            f"users: {result.users_created} created, {users - result.users_created} existing; "
            f"channels: {result.channels_created} created; memberships: {result.memberships_created} created; "
            f"DMs: {result.dms_created} created"
        )
        seeding.seed_messages(
            conversations=conversations,
            target=messages,
            batch_size=batch_size,
            result=result,
            progress=self._progress if messages > batch_size else None,
        )

    def _progress(self, done: int, total: int, seconds: float) -> None:
        rate = done / seconds if seconds else 0
        self.stdout.write(f"  {done:,}/{total:,} messages ({100 * done / total:.0f}%, {rate:,.0f}/s)")
