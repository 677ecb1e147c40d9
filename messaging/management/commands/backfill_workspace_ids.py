"""manage.py backfill_workspace_ids: workspaceId on messages stored before workspaces."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging import selectors, services
from messaging.mongo import long_operations
from slackclone import errors


class Command(BaseCommand):
    help = (
        "Set workspaceId on every MongoDB message that has none (stored before workspaces existed), from its "
        "channel's or DM's workspace in PostgreSQL (after the migrations moved them into the default workspace). "
        "Idempotent: run it once after upgrading, again any time; check_consistency reports what is left."
    )

    def handle(self, *args, **options):
        try:
            with long_operations():
                counts = services.messages_workspace_backfill()
                left = selectors.messages_without_workspace()
        except errors.StoreUnavailable as exc:
            raise CommandError(f"{exc.message} (MongoDB {settings.MONGO_URL})") from exc
        for collection, count in counts.items():
            self.stdout.write(f"{collection}: {count:,} message(s) given their workspaceId")
        remaining = sum(left.values())
        if remaining:
            raise CommandError(f"{remaining} message(s) still without workspaceId (orphans: see check_consistency).")
        self.stdout.write(self.style.SUCCESS("Every message has its workspaceId."))
