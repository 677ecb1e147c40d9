"""manage.py unread_index_rebuild [--workspace SLUG|ID] [--conversation ID]

Rebuilds the unread index (`unread_entries`, readstate.counting) from MongoDB, one
conversation at a time, each in one transaction holding the conversation's lock (the
lock every send, edit and delete takes), so it runs beside live traffic and never
writes an older state over a newer one. Run it once after upgrading from a version
without the index (counts of older messages are missing until then), or after
restoring MongoDB and PostgreSQL from backups taken at different times.
"""

from django.core.management.base import BaseCommand, CommandError

from messaging.selectors import conversations_for_maintenance
from readstate.services import unread_index_rebuild
from slackclone import errors


class Command(BaseCommand):
    help = "Rebuild the unread index (exact unread and mention counts) from MongoDB, beside live traffic."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", help="Only this workspace (slug or id).")
        parser.add_argument("--conversation", help="Only this channel, DM or group DM (id).")

    def handle(self, *args, **options):
        try:
            conversations = conversations_for_maintenance(
                workspace=options["workspace"], conversation=options["conversation"]
            )
        except errors.DomainError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(unread_index_rebuild(conversation) for conversation in conversations)
        self.stdout.write(
            self.style.SUCCESS(f"Indexed {rows} countable messages of {len(conversations)} conversations.")
        )
