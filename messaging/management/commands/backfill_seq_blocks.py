"""manage.py backfill_seq_blocks: seqBlock and inChannel on messages stored before them, and
reactions in their compact form (session 5)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging.documents import ConversationKind
from messaging.mongo import long_operations
from messaging.reactions import reactions_backfill
from messaging.repositories import repository_for
from messaging.services.maintenance import threads_number_backfill
from slackclone import errors


class Command(BaseCommand):
    help = (
        "Set seqBlock (the history window a message is in, issue 13), inChannel (shown in the channel view, "
        "issue 17) on every MongoDB message stored before they existed, number the replies of threads stored "
        "before session 14 (threadSeq, threadBlock: the thread page's blocks), and rewrite reactions stored as "
        "{e, u} pairs as '<emoji> <user id>' strings (issue 17, session 5). History pages, the channel view and "
        "thread pages are read by the fields: run "
        "it once after upgrading (before serving), again any time; it is idempotent and reads each "
        "collection twice."
    )

    def handle(self, *args, **options):
        try:
            with long_operations():
                for kind in ConversationKind:
                    repo = repository_for(kind)
                    count = repo.backfill_seq_blocks()
                    self.stdout.write(f"{repo.collection_name}: {count:,} message(s) given seqBlock and inChannel")
                    count = threads_number_backfill(kind=kind)
                    self.stdout.write(f"{repo.collection_name}: {count:,} thread(s) given threadSeq")
                    count = reactions_backfill(repo)
                    self.stdout.write(f"{repo.collection_name}: {count:,} message(s) given compact reactions")
        except errors.StoreUnavailable as exc:
            raise CommandError(f"{exc.message} (MongoDB {settings.MONGO_URL})") from exc
        self.stdout.write(
            self.style.SUCCESS("Every message has its seqBlock, inChannel, thread place, compact reactions.")
        )
