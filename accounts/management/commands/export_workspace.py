"""manage.py export_workspace: everything a workspace holds, as JSON lines on stdout."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts import selectors
from messaging.management.commands.export_channel import _plain
from messaging.mongo import long_operations
from moderation.selectors import workspace_export
from slackclone import errors


class Command(BaseCommand):
    help = (
        'Write everything a workspace holds to stdout, one JSON object per line, each with a "type": '
        "workspace, member, invite, channel, channel_member, dm (PostgreSQL), then message (MongoDB: under "
        '"message", the API\'s Message shape plus workspace_id, deleted_at, deleted_by; deleted ones included). '
        "Streamed: server-side cursors on "
        "both stores, constant memory whatever the size. The summary goes to stderr. "
        "Example: manage.py export_workspace acme > acme.jsonl"
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The workspace's slug.")
        parser.add_argument("--batch-size", type=int, default=1000, help="Rows/documents read per round trip.")

    def handle(self, *args, slug, batch_size, **options):
        if not 1 <= batch_size <= 100_000:
            raise CommandError("--batch-size must be from 1 to 100000.")
        workspace = selectors.workspace_by_slug(slug=slug)
        if workspace is None:
            raise CommandError(f"No workspace {slug!r}.")
        counts: dict[str, int] = {}
        try:
            with long_operations():
                for row in workspace_export(workspace=workspace, batch_size=batch_size):
                    self.stdout.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
                    counts[row["type"]] = counts.get(row["type"], 0) + 1
        except errors.StoreUnavailable as exc:
            raise CommandError(f"{exc.message} (MongoDB {settings.MONGO_URL})") from exc
        except Exception as exc:  # a store refused an operation: a message, not a traceback (see --traceback)
            raise CommandError(f"{exc.__class__.__name__}: {exc}") from exc
        summary = ", ".join(f"{n:,} {kind}" for kind, n in counts.items())
        self.stderr.write(f"Exported workspace {slug}: {summary}.", style_func=_plain)
