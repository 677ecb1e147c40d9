"""manage.py backfill_seq_blocks: seqBlock and inChannel on messages stored before them."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging.documents import ConversationKind
from messaging.mongo import long_operations
from messaging.repositories import repository_for
from slackclone import errors


class Command(BaseCommand):
    help = (
        "Set seqBlock (the history window a message is in, issue 13), inChannel (shown in the channel view, "
        "issue 17) and, on replies, threadBlock (the thread page's window) on every MongoDB message stored "
        "before they existed. History pages, the channel view and thread pages are read by them: run it "
        "once after upgrading (before serving), again any time; it is idempotent and "
        "reads each collection once."
    )

    def handle(self, *args, **options):
        try:
            with long_operations():
                for kind in ConversationKind:
                    repo = repository_for(kind)
                    count = repo.backfill_seq_blocks()
                    self.stdout.write(f"{repo.collection_name}: {count:,} message(s) given seqBlock and inChannel")
        except errors.StoreUnavailable as exc:
            raise CommandError(f"{exc.message} (MongoDB {settings.MONGO_URL})") from exc
        self.stdout.write(self.style.SUCCESS("Every message has its seqBlock and inChannel."))
