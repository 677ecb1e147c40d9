"""manage.py export_channel: a channel's history as JSON lines on stdout."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging import selectors
from messaging.mongo import long_operations
from messaging.serializers import message_to_api
from slackclone import errors


def _plain(text: str) -> str:
    return text


class Command(BaseCommand):
    help = (
        "Write a channel's history to stdout, oldest first (seq order), one JSON object per line in the API's "
        "Message shape; deleted messages are left out. One query whose cursor is read in batches, so any size "
        "streams in constant memory. "
        "The summary goes to stderr. Example: manage.py export_channel <id> > general.jsonl"
    )

    def add_arguments(self, parser):
        parser.add_argument("channel_id", metavar="ID", help="The channel's UUID.")
        parser.add_argument(
            "--format", choices=["jsonl"], default="jsonl", help="Output format: jsonl (JSON lines, the default)."
        )
        parser.add_argument("--batch-size", type=int, default=1000, help="Messages read per query (default 1000).")

    def handle(self, *args, channel_id, batch_size, **options):
        if not 1 <= batch_size <= 100_000:
            raise CommandError("--batch-size must be from 1 to 100000.")
        count = 0
        try:
            with long_operations():
                for message in selectors.channel_export(channel_id=channel_id, batch_size=batch_size):
                    self.stdout.write(json.dumps(message_to_api(message), ensure_ascii=False, separators=(",", ":")))
                    count += 1
                    if count % 100_000 == 0:
                        self.stderr.write(f"  {count:,} messages exported", style_func=_plain)
        except errors.StoreUnavailable as exc:
            raise CommandError(f"{exc.message} (MongoDB {settings.MONGO_URL})") from exc
        except errors.DomainError as exc:
            raise CommandError(f"{exc.message} ({channel_id!r})") from exc
        except Exception as exc:  # a store refused an operation: a message, not a traceback (see --traceback)
            raise CommandError(f"{exc.__class__.__name__}: {exc}") from exc
        self.stderr.write(f"Exported {count:,} messages of channel {channel_id}.", style_func=_plain)
