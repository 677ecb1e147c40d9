"""manage.py purge_orphan_files --older-than 7d: delete uploads no message ever carried."""

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from files.services import files_delete_unshared

_AGE = re.compile(r"^(\d+)([dhm]?)$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "": "days"}


def parse_age(value: str) -> timedelta:
    """ "7d", "12h", "30m" or a number of days."""
    match = _AGE.match(value.strip())
    if not match:
        raise CommandError(f"--older-than: {value!r} is not an age like 7d, 12h, 30m or 7.")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = (
        "Delete the uploads (rows and bytes) created more than --older-than ago that no message ever carried: "
        "a client uploaded them and never sent. Files once shared leave with their last message instead "
        "(purge_messages, message and conversation deletion)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, help="An age: 7d, 12h, 30m, or a number of days.")
        parser.add_argument("--dry-run", action="store_true", help="Only count.")

    def handle(self, *args, older_than, dry_run, **options):
        cutoff = timezone.now() - parse_age(older_than)
        count = files_delete_unshared(older_than=cutoff, dry_run=dry_run)
        verb = "would be deleted (dry run)" if dry_run else "deleted"
        self.stdout.write(
            self.style.SUCCESS(f"{count} never-shared file(s) created before {cutoff:%Y-%m-%d %H:%M:%S} UTC {verb}.")
        )
