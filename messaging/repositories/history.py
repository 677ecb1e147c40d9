"""History reads of one conversation (issue 13): newest page, keyset pages and the
bounded seq windows a page is read in, plus their `explain()` for the index tests."""

import math
from datetime import datetime

from bson import Int64
from pymongo import ASCENDING, DESCENDING

from messaging.documents import MessageDocument
from messaging.repositories.base import SEQ_BLOCK, WINDOW_MAX_BLOCKS, _mongo_errors, utc


def _windows_too_sparse(*, reads: int, covered: int, found: int, limit: int) -> bool:
    """Whether a thread page should leave its windows for the keyset read: once at
    least a block's worth of seqs was read (`covered`), the page would need more than
    WINDOW_MAX_BLOCKS block reads at the density seen so far (none found: infinitely
    many). A thread with few replies, or none recent, then costs one or two block
    reads more than the keyset read alone; a busy one stays in windows."""
    if covered < SEQ_BLOCK:
        return False
    if found == 0:
        return True
    needed = math.ceil((limit - found) * covered / found / SEQ_BLOCK)
    return reads + needed > WINDOW_MAX_BLOCKS


class HistoryReads:
    """Mixed into `MessageRepository`: the reads of a conversation's history."""

    def newest_page(self, *, conversation_id: str, limit: int, **view) -> list[MessageDocument]:
        """Up to `limit` newest visible messages, newest first (`view`: see _visible)."""
        return self._find(self._visible(conversation_id, **view), sort_direction=DESCENDING, limit=limit)

    def page_before(self, *, conversation_id: str, seq: int, limit: int, **view) -> list[MessageDocument]:
        """Up to `limit` visible messages with a smaller seq, newest first."""
        query = self._visible(conversation_id, seq={"$lt": seq}, **view)
        return self._find(query, sort_direction=DESCENDING, limit=limit)

    def page_after(self, *, conversation_id: str, seq: int, limit: int, **view) -> list[MessageDocument]:
        """Up to `limit` visible messages with a larger seq, oldest first."""
        query = self._visible(conversation_id, seq={"$gt": seq}, **view)
        return self._find(query, sort_direction=ASCENDING, limit=limit)

    def window_page(
        self,
        *,
        conversation_id: str,
        top: int,
        limit: int,
        before: int | None = None,
        after: int | None = None,
        **view,
    ) -> list[MessageDocument]:
        """The page `newest_page` / `page_before(seq=before)` / `page_after(seq=after)`
        would return (same documents, same order: newest first, or oldest first with
        `after`), read as bounded seq windows (issue 13).

        `top` is the conversation's newest seq as the server knows it: its committed
        counter (`message_sequences.last_seq`; every message up to it is stored, since a
        send inserts before it commits). The page is read block by block (SEQ_BLOCK
        consecutive seqs), each block by ONE query: equalities on the conversation and
        `seqBlock` and a seq range, hinted to the (conversation, seq) index, so MongoDB
        reads at most a block of index entries and FerretDB's PostgreSQL handler answers
        it from the GIN index on `seqBlock` (messaging.ferretdb), never reading the rest
        of the conversation. Hidden messages (deleted, or replies in the channel view)
        do not shorten the page: blocks are read until `limit` visible ones are found or
        the conversation's start (or its end). After WINDOW_MAX_BLOCKS blocks, one
        unbounded keyset query (`page_before` / `page_after`) finishes the page.

        The end: `stored_through` extends `top` over the messages stored past it without a
        hole (a batch being committed, or a counter behind MongoDB): what one snapshot
        would have shown, never a later message without an earlier one, although the
        blocks are read by several queries.

        The views (issue 17, session 4): the channel view (`roots_only`) adds the
        equality `inChannel: true`, pushed down with the others, so the store decodes
        only the block's messages shown in the channel, not the hidden replies. A
        thread's replies (`thread_id`) are read in the same seq blocks, named by the
        replies' `threadBlock` (root + block; FerretDB's PostgreSQL handler answers it
        from its GIN index) and hinted to the (conversation, threadId, seq) index, so
        only that thread's replies of the block are decoded. A thread too sparse for windows
        (`_windows_too_sparse`: the blocks read so far say the page would need more
        than WINDOW_MAX_BLOCKS of them) is finished by the keyset read at once, which
        decodes only that thread's replies (the GIN index on `threadId`)."""
        thread = view.get("thread_id") is not None
        hint = self.thread_index if thread else self.seq_index
        top = max(int(top), 0)
        found: list[MessageDocument] = []
        reads = covered = 0

        def read(block: int, low: int, high: int, direction: int) -> list[MessageDocument]:
            nonlocal reads, covered
            reads += 1
            covered += high - low + 1
            query = self._block_query(conversation_id, block, low, high, **view)
            return self._find(query, sort_direction=direction, limit=limit - len(found), hint=hint)

        def windows_done() -> bool:
            if reads == WINDOW_MAX_BLOCKS:
                return True
            return thread and _windows_too_sparse(reads=reads, covered=covered, found=len(found), limit=limit)

        if after is not None:  # oldest first, from after + 1 up to the end
            end = self.stored_through(conversation_id=conversation_id, top=top)
            low = after + 1
            while len(found) < limit and low <= end:
                block = low // SEQ_BLOCK
                high = min(end, (block + 1) * SEQ_BLOCK - 1)
                if windows_done():
                    rest = self.page_after(
                        conversation_id=conversation_id, seq=low - 1, limit=limit - len(found), **view
                    )
                    found += [m for m in rest if m.seq <= end]
                    break
                found += read(block, low, high, ASCENDING)
                low = high + 1
            return found

        # newest first, from before - 1 (or the end) down to seq 0
        high = top if before is None else before - 1
        if high >= top:
            ceiling = self.stored_through(conversation_id=conversation_id, top=top)
            high = ceiling if before is None else min(high, ceiling)
        while len(found) < limit and high >= 0:
            block = high // SEQ_BLOCK
            if windows_done():
                found += self.page_before(
                    conversation_id=conversation_id, seq=high + 1, limit=limit - len(found), **view
                )
                break
            found += read(block, block * SEQ_BLOCK, high, DESCENDING)
            high = block * SEQ_BLOCK - 1
        return found

    def stored_through(self, *, conversation_id: str, top: int) -> int:
        """The last seq of the run of stored messages top + 1, top + 2, ... without a
        hole (deleted ones count: they are stored); `top` if there is none. Usually ONE
        point read of seq top + 1 that finds nothing (an equality on seqBlock and seq,
        both pushed down by FerretDB: it decodes no document). Inserts into a
        conversation are made in seq order, so a message seen here has every earlier
        one stored too."""
        ceiling = top
        while True:
            following = ceiling + 1
            block = following // SEQ_BLOCK
            base = {self.conversation_field: conversation_id, "seqBlock": f"{conversation_id}:{block}"}
            with _mongo_errors():
                if self.collection.find_one({**base, "seq": Int64(following)}, projection={"_id": 1}) is None:
                    return ceiling
                # Messages past the counter: the rest of this block in one read.
                block_end = (block + 1) * SEQ_BLOCK - 1
                query = {**base, "seq": {"$gte": Int64(following), "$lte": Int64(block_end)}}
                cursor = self.collection.find(query, projection={"seq": 1, "_id": 0}).hint(self.seq_index)
                seqs = sorted(int(raw["seq"]) for raw in cursor)
            for seq in seqs:
                if seq != ceiling + 1:
                    return ceiling
                ceiling = seq
            if ceiling != block_end:
                return ceiling

    def high_water_mark(self, *, conversation_id: str) -> tuple[int, datetime | None]:
        """(max seq, its createdAt) over every stored message, deleted ones included;
        (0, None) for an empty conversation."""
        with _mongo_errors():
            raw = self.collection.find_one(
                {self.conversation_field: conversation_id},
                projection={"seq": 1, "createdAt": 1},
                sort=[("seq", DESCENDING)],
            )
        return (int(raw["seq"]), utc(raw["createdAt"])) if raw is not None else (0, None)

    def max_seq(self, *, conversation_id: str) -> int:
        return self.high_water_mark(conversation_id=conversation_id)[0]

    def explain_newest_page(self, *, conversation_id: str, limit: int) -> dict:
        """The server's explain output of the history query (for index checks)."""
        with _mongo_errors():
            return self.collection.database.command(
                "explain",
                {
                    "find": self.collection_name,
                    "filter": self._visible(conversation_id),
                    "sort": {"seq": DESCENDING},
                    "limit": limit,
                },
                verbosity="queryPlanner",
            )

    def explain_window(self, *, conversation_id: str, seq: int, limit: int, **view) -> dict:
        """The server's explain output of one block read of `window_page` (index checks);
        `view` as for `window_page` (the channel view, a thread)."""
        block = seq // SEQ_BLOCK
        hint = self.thread_index if view.get("thread_id") is not None else self.seq_index
        with _mongo_errors():
            return self.collection.database.command(
                "explain",
                {
                    "find": self.collection_name,
                    "filter": self._block_query(conversation_id, block, block * SEQ_BLOCK, seq, **view),
                    "sort": {"seq": DESCENDING},
                    "limit": limit,
                    "hint": dict(hint),
                },
                verbosity="queryPlanner",
            )
