"""manage.py ensure_mongo_indexes: create the MongoDB indexes of the message collections.

Safe to run on every deploy: it creates only what is missing and reports it. If an
index exists under one of our names with other keys or options (or with our keys
under another name), it changes nothing more and exits non-zero, naming the index
to drop, rather than leaving the database half as the code expects.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging.repositories import INDEXES, IndexConflict, ensure_indexes
from slackclone import errors


class Command(BaseCommand):
    help = "Create the MongoDB indexes of channel_messages and dm_messages (only those missing)."

    def handle(self, *args, **options):
        try:
            created = ensure_indexes()
        except IndexConflict as exc:
            raise CommandError(f"Conflicting MongoDB index: {exc}") from exc
        except errors.StoreUnavailable as exc:
            raise CommandError(f"MongoDB at {settings.MONGO_URL} is unavailable: {exc.message}") from exc
        gin = [name for name in created if "_sc_gin_" in name]
        created = [name for name in created if "_sc_gin_" not in name]
        for name in created:
            self.stdout.write(f"created {name}")
        for name in gin:
            self.stdout.write(f"made GIN index in FerretDB's PostgreSQL table: {name}")
        kept = len(INDEXES) - len(created)
        self.stdout.write(
            self.style.SUCCESS(
                f"MongoDB indexes of {settings.MONGO_DB}: {len(created)} created, {kept} already present"
                + (f"; {len(gin)} GIN indexes made in FerretDB's PostgreSQL tables." if gin else ".")
            )
        )
