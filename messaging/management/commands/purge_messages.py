"""manage.py purge_messages: retention, hard-deleting messages older than N days."""

import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.selectors import workspace_by_slug
from messaging import services
from messaging.mongo import long_operations
from slackclone import errors


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = -1
    if days < 0:
        raise CommandError(f"--older-than must be a whole number of days >= 0, not {value!r}.")
    return days


class Command(BaseCommand):
    help = (
        "Retention: delete for good (hard delete) every message created more than DAYS days ago, in all channels "
        "and DMs, or only in one workspace (--workspace SLUG) or one channel (--channel). Reports the count per "
        "MongoDB collection. "
        "Clients are not told (nobody pages that far back live); history simply starts later. "
        "With --dry-run, only counts and changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            dest="days",
            type=_days,
            required=True,
            metavar="DAYS",
            help="Delete messages created before now minus DAYS days (0: everything until now).",
        )
        parser.add_argument(
            "--channel", metavar="ID", help="Only this channel's messages (its UUID); DMs are then left alone."
        )
        parser.add_argument(
            "--workspace", metavar="SLUG", help="Only this workspace's messages (channels and DMs), by its slug."
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args, days, channel, workspace, dry_run, verbosity, **options):
        self._verbosity = verbosity
        self._reported: dict[str, int] = {}
        cutoff = timezone.now() - timedelta(days=days)
        workspace_id = None
        if workspace is not None:
            found = workspace_by_slug(slug=workspace)
            if found is None:
                raise CommandError(f"No workspace {workspace!r}.")
            workspace_id = str(found.pk)
        where = f"channel {channel}" if channel else "all channels and DMs"
        if workspace is not None:
            where += f" of workspace {workspace}"
        action = "Counting" if dry_run else "Deleting"
        self.stdout.write(f"{action} messages created before {cutoff:%Y-%m-%d %H:%M:%S} UTC in {where}")
        self._started = time.monotonic()
        try:
            with long_operations():
                counts = services.messages_purge(
                    older_than=cutoff,
                    channel_id=channel,
                    workspace_id=workspace_id,
                    dry_run=dry_run,
                    progress=self._progress,
                )
        except errors.StoreUnavailable as exc:
            raise CommandError(f"{exc.message} (MongoDB {settings.MONGO_URL})") from exc
        except errors.DomainError as exc:
            raise CommandError(f"{exc.message} ({channel!r})") from exc
        except Exception as exc:  # a store refused an operation: a message, not a traceback (see --traceback)
            raise CommandError(f"{exc.__class__.__name__}: {exc}") from exc
        verb = "would be deleted" if dry_run else "deleted"
        for collection, count in counts.items():
            self.stdout.write(f"{collection}: {count:,} {verb}")
        total = sum(counts.values())
        seconds = time.monotonic() - self._started
        suffix = " (dry run: nothing changed)" if dry_run else f" in {seconds:.1f} s"
        self.stdout.write(self.style.SUCCESS(f"Total: {total:,} messages {verb}{suffix}."))

    def _progress(self, collection: str, deleted: int) -> None:
        """Called after each batch of deletes; reported about every 50,000 (every batch with -v 2)."""
        if deleted - self._reported.get(collection, 0) >= 50_000 or self._verbosity > 1:
            self._reported[collection] = deleted
            rate = deleted / max(time.monotonic() - self._started, 1e-6)
            self.stdout.write(f"  {collection}: {deleted:,} deleted so far ({rate:,.0f}/s)")
