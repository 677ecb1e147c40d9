"""manage.py search_reindex [--workspace SLUG|ID] [--conversation ID] [--restart]

Rebuilds the search index from MongoDB, conversation by conversation, beside live
traffic (search.services.reindex_conversation: each batch under the conversation's
lock). Resumable: an interrupted run continues where it stopped (per conversation, after
the last batch committed); --restart forgets that progress. Shows a progress bar (tqdm)
of the messages indexed.
"""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from messaging.documents import Conversation
from messaging.repositories import repository_for
from messaging.selectors import conversations_for_maintenance
from search import services
from slackclone import errors


class Command(BaseCommand):
    help = "Rebuild the message search index from MongoDB (resumable, beside live traffic)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", help="Only this workspace (slug or id).")
        parser.add_argument("--conversation", help="Only this channel, DM or group DM (id).")
        parser.add_argument("--restart", action="store_true", help="Forget the progress of an earlier run.")
        parser.add_argument("--batch-size", type=int, default=services.REINDEX_BATCH)

    def handle(self, *args, **options):
        conversations = self._conversations(options["workspace"], options["conversation"])
        if options["restart"]:
            services.reindex_progress_reset(
                conversations if (options["workspace"] or options["conversation"]) else None
            )
        done = services.reindex_done_ids()
        todo = [c for c in conversations if c.id not in done]
        total = sum(repository_for(c.kind).count(conversation_id=c.id) for c in todo)
        self.stdout.write(
            f"{len(todo)} conversations to index ({len(conversations) - len(todo)} done earlier), ~{total} messages."
        )
        indexed = 0
        with tqdm(total=total, unit="msg", file=self.stderr, disable=options["verbosity"] == 0) as bar:
            for conversation in todo:
                indexed += services.reindex_conversation(
                    conversation, progress=bar.update, batch_size=options["batch_size"]
                )
        # A full run is complete: the next run starts over (a partial run keeps its marks).
        services.reindex_progress_reset(todo + [c for c in conversations if c.id in done])
        self.stdout.write(self.style.SUCCESS(f"Indexed {indexed} messages of {len(todo)} conversations."))

    def _conversations(self, workspace: str | None, conversation: str | None) -> list[Conversation]:
        try:
            return conversations_for_maintenance(workspace=workspace, conversation=conversation)
        except errors.DomainError as exc:
            raise CommandError(str(exc)) from exc
