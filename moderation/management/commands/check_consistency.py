"""manage.py check_consistency: what PostgreSQL and MongoDB disagree on, and --fix."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from channels_app import selectors as channel_selectors
from channels_app import services as channel_services
from dms import selectors as dm_selectors
from dms import services as dm_services
from files import selectors as files_selectors
from files import storage as files_storage
from messaging import selectors as message_selectors
from messaging import services as message_services
from messaging import thread_repair
from messaging.mongo import long_operations
from readstate import selectors as readstate_selectors
from readstate import services as readstate_services
from search import selectors as search_selectors
from search import services as search_services
from slackclone import errors


class Command(BaseCommand):
    help = (
        "Check that PostgreSQL and MongoDB agree, and report: "
        "(1) orphan messages: messages in MongoDB whose channel or DM conversation no longer exists in PostgreSQL "
        "(e.g. deleted while MongoDB was down); "
        "(2) memberships of deactivated users (a deleted user's memberships cannot exist: the foreign key "
        "cascades, so this is the nearest real case); "
        "(3) DM conversations whose pair is not stored smaller UUID first (impossible while the CHECK constraint "
        "dm_conversations_ordered_pair exists; checked with raw SQL in case it was dropped); "
        "(4) MongoDB messages without a workspaceId (stored before workspaces existed); "
        "(5) conversations whose search index entries disagree with MongoDB (counts of stored and of live "
        "messages); "
        "(6) thread roots whose replyCount, replyUsers or lastReplyAt disagree with their replies, or with live "
        "replies never counted (a crash between a reply's insert and its root's update); "
        "(7) conversations whose unread index (the rows exact unread and mention counts are counted on) "
        "disagrees with MongoDB's live messages (a restore of one store without the other); "
        "(8) file objects in the storage without metadata, and file metadata whose object is missing. "
        "Exits with status 0 when everything is consistent (or was fixed), 1 when something was reported and "
        "not fixed. "
        "With --fix, repairs exactly what was reported: deletes the orphan messages reported (those created "
        "before the check started, after re-checking that their conversation is still missing), removes the "
        "reported memberships (but the last member of a private channel, which keeps one), swaps the users "
        "of the reported DMs where that is safe, and gives messages their "
        "workspaceId (as backfill_workspace_ids does), rebuilds the search index of the drifted "
        "conversations (as search_reindex --conversation does), recomputes the reported roots' counters from "
        "their replies under the conversation's lock (safe beside live traffic; idempotent), rebuilds the unread "
        "index of the drifted conversations (as unread_index_rebuild --conversation does), deletes the file "
        "objects without metadata (created before the check started); DMs that duplicate "
        "an existing pair or pair a user with themselves are reported as needing a person."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Repair what is reported (see above).")

    def handle(self, *args, fix, **options):
        started = timezone.now()
        try:
            with long_operations():
                found = self._check(started)
                problems = sum(len(items) for items in found.values())
                if not problems:
                    self.stdout.write(self.style.SUCCESS("Consistent: nothing to report."))
                    return
                if not fix:
                    raise CommandError(f"{problems} problem(s) found (see above); run with --fix to repair them.")
                unfixable = self._fix(found, started)
        except CommandError:
            raise
        except errors.StoreUnavailable as exc:
            raise CommandError(f"{exc.message} (MongoDB {settings.MONGO_URL})") from exc
        except DatabaseError as exc:
            raise CommandError(f"PostgreSQL failed: {exc}") from exc
        except Exception as exc:  # a store refused an operation: a message, not a traceback (see --traceback)
            raise CommandError(f"{exc.__class__.__name__}: {exc}") from exc
        if unfixable:
            raise CommandError(f"Fixed the rest, but {unfixable} problem(s) need a person (see above).")
        self.stdout.write(self.style.SUCCESS("Fixed everything reported."))

    # --- Report --------------------------------------------------------------------------

    def _report(self, title: str, items, line) -> None:
        """One check's lines: `title: <count>`, then `line(item)` for each item."""
        self.stdout.write(f"{title}: {len(items)}")
        for item in items:
            self.stdout.write(f"  {line(item)}")

    def _check(self, started) -> dict[str, list]:
        orphans = message_selectors.orphan_conversations(created_before=started)
        self.stdout.write(f"Orphan messages (conversation missing in PostgreSQL): {len(orphans)} conversation(s)")
        for orphan in orphans:
            kind = orphan.conversation.kind.value
            self.stdout.write(f"  {kind} {orphan.conversation.id}: {orphan.messages} message(s)")

        memberships = list(channel_selectors.memberships_of_inactive_users())
        self._report(
            "Memberships of deactivated users",
            memberships,
            lambda m: f"{m.user.username} ({m.user_id}) in #{m.channel.name} ({m.channel_id})",
        )
        misordered = dm_selectors.dm_misordered_pairs()
        self._report(
            "DM conversations with a misordered pair",
            misordered,
            lambda dm: (
                f"{dm.id}: user1 {dm.user1_id}, user2 {dm.user2_id} ("
                + ("fixable: swap the users" if dm.fixable else f"not fixable automatically: {dm.problem}")
                + ")"
            ),
        )
        without = message_selectors.messages_without_workspace()
        self.stdout.write(f"Messages without a workspaceId (run backfill_workspace_ids): {sum(without.values())}")
        unscoped = [f"{collection}: {count}" for collection, count in without.items() if count]
        for entry in unscoped:
            self.stdout.write(f"  {entry} message(s)")

        stray_objects, missing_objects = files_selectors.files_storage_mismatches(created_before=started)
        self._report("File objects without metadata (storage key with no files row)", stray_objects, str)
        self._report(
            "File metadata without its object (files row whose bytes are missing)",
            missing_objects,
            lambda f: f"{f.pk} {f.storage_key} ({f.name}); not fixable automatically",
        )
        drift = search_selectors.index_drift(created_before=started)
        self._report(
            "Conversations whose search index disagrees with MongoDB",
            drift,
            lambda d: (
                f"{d.conversation.kind.value} {d.conversation.id}: stored {d.stored[0]} ({d.stored[1]} live), "
                f"indexed {d.indexed[0]} ({d.indexed[1]} live)"
            ),
        )
        roots = thread_repair.thread_counters_drift(created_before=started)
        self._report(
            "Thread roots whose counters disagree with their replies",
            roots,
            lambda r: (
                f"{r.conversation.kind.value} {r.conversation.id} root {r.root_id}: replyCount {r.stored[0]}, "
                f"its live replies {r.expected[0]} ({r.uncounted} never counted)"
            ),
        )
        unread = readstate_selectors.unread_index_drift(created_before=started)
        self._report(
            "Conversations whose unread index disagrees with MongoDB",
            unread,
            lambda u: (
                f"{u.conversation.kind.value} {u.conversation.id}: {u.stored} live message(s) to count, "
                f"{u.indexed} indexed"
            ),
        )
        return {
            "orphans": orphans,
            "unread": unread,
            "threads": roots,
            "memberships": memberships,
            "dms": misordered,
            "unscoped": unscoped,
            "stray_objects": stray_objects,
            "missing_objects": missing_objects,
            "search": drift,
        }

    # --- Repair --------------------------------------------------------------------------

    def _fix(self, found: dict[str, list], started) -> int:
        if found["orphans"]:
            counts = message_services.orphan_messages_delete(orphans=found["orphans"], created_before=started)
            for collection, count in counts.items():
                self.stdout.write(f"Deleted {count} orphan message(s) from {collection}")
        if found["memberships"]:
            removed = channel_services.channel_memberships_remove_inactive(
                membership_ids=[membership.pk for membership in found["memberships"]]
            )
            self.stdout.write(f"Removed {removed} membership(s) of deactivated users")
        fixable = [dm.id for dm in found["dms"] if dm.fixable]
        if fixable:
            swapped = dm_services.dm_pair_order_fix(conversation_ids=fixable)
            self.stdout.write(f"Swapped the users of {swapped} DM conversation(s)")
        if found["unscoped"]:
            counts = message_services.messages_workspace_backfill()
            for collection, count in counts.items():
                self.stdout.write(f"Gave {count} message(s) of {collection} their workspaceId")
        if found["stray_objects"]:
            removed = files_storage.delete_stray(found["stray_objects"])
            self.stdout.write(f"Deleted {removed} file object(s) without metadata")
        if found["search"]:
            indexed = search_services.index_drift_fix([item.conversation for item in found["search"]])
            self.stdout.write(
                f"Rebuilt the search index of {len(found['search'])} conversation(s): {indexed} message(s)"
            )
        if found["threads"]:
            changed = thread_repair.thread_counters_repair(
                roots=[(item.conversation, item.root_id) for item in found["threads"]], created_before=started
            )
            self.stdout.write(f"Recomputed the reply counters of {changed} thread root(s)")
        if found["unread"]:
            rows = sum(readstate_services.unread_index_rebuild(item.conversation) for item in found["unread"])
            self.stdout.write(f"Rebuilt the unread index of {len(found['unread'])} conversation(s): {rows} row(s)")
        return len(found["dms"]) - len(fixable) + len(found["missing_objects"])
