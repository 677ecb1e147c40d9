"""manage.py snapshot_presence: copy live presence (Redis) into the user_presence table.

For analytics only: nothing reads the table to decide anything. Safe to run from cron
on any host; it also settles due users first (announcing those who went offline), so
the snapshot does not depend on a server process having swept recently.
"""

from django.core.management.base import BaseCommand, CommandError

from presence.services import presence_snapshot, presence_sweep
from slackclone import errors


class Command(BaseCommand):
    help = "Write the user_presence table from live presence in Redis (analytics only)."

    def handle(self, *args, **options):
        try:
            gone = presence_sweep()
            written = presence_snapshot()
        except errors.StoreUnavailable as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"snapshot_presence: {written} rows written ({len(gone)} users went offline in the sweep)")
