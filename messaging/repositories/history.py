"""History reads of one conversation (issue 13): newest page, keyset pages and the
bounded seq windows a page is read in, plus their `explain()` for the index tests."""

from datetime import datetime

from bson import Int64
from pymongo import ASCENDING, DESCENDING

from messaging.documents import MessageDocument
from messaging.repositories.base import SEQ_BLOCK, WINDOW_MAX_BLOCKS, _mongo_errors, seq_block, utc


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

        The channel view (issue 17, session 4: `roots_only`) adds the equality
        `inChannel: true`, pushed down with the others, so the store decodes only the
        block's messages shown in the channel, not the hidden replies. A thread's replies
        are read by `thread_page`."""
        top = max(int(top), 0)
        found: list[MessageDocument] = []
        reads = 0

        def read(block: int, low: int, high: int, direction: int) -> list[MessageDocument]:
            nonlocal reads
            reads += 1
            query = self._block_query(conversation_id, block, low, high, **view)
            return self._find(query, sort_direction=direction, limit=limit - len(found), hint=self.seq_index)

        if after is not None:  # oldest first, from after + 1 up to the end
            end = self.stored_through(conversation_id=conversation_id, top=top)
            low = after + 1
            while len(found) < limit and low <= end:
                block = low // SEQ_BLOCK
                high = min(end, (block + 1) * SEQ_BLOCK - 1)
                if reads == WINDOW_MAX_BLOCKS:
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
            if reads == WINDOW_MAX_BLOCKS:
                found += self.page_before(
                    conversation_id=conversation_id, seq=high + 1, limit=limit - len(found), **view
                )
                break
            found += read(block, block * SEQ_BLOCK, high, DESCENDING)
            high = block * SEQ_BLOCK - 1
        return found

    def thread_page(
        self,
        *,
        conversation_id: str,
        thread_id: str,
        thread_top: int | None,
        top: int,
        limit: int,
        before: int | None = None,
        after: int | None = None,
    ) -> list[MessageDocument]:
        """The live replies of the thread `thread_id` that `newest_page` /
        `page_before(seq=before)` / `page_after(seq=after)` with `thread_id` would return
        (same documents, same order), read in the thread's own blocks (session 14).

        Every reply has a `threadSeq` (1, 2, ... in seq order, given under the
        conversation's lock by `thread_seqs_reserve`; a failed send leaves a gap), and its
        `threadBlock` names its root and threadSeq // SEQ_BLOCK. So a block holds up to
        SEQ_BLOCK replies of this thread and no other message, however sparse the thread
        is among the conversation's messages, and a page of 50 takes two or three block
        reads (`_thread_block_query`: ONE equality FerretDB pushes down; MongoDB bounds it
        by the hinted (conversation, threadId, threadSeq) index). `thread_top` is the
        root's `lastThreadSeq`, read before this call.

        Blocks are read from the cursor's (the block of the reply at the cursor's seq:
        one point read; without one, the newest block, or with `after` the first)
        towards the older (or newer) end, each filtered on the cursor and on the
        conversation's end (`top` extended by `stored_through`, as `window_page`),
        until `limit` are found. A reply numbered after `thread_top` was read is left
        for the next page: it is newer than every reply of the blocks read, so a page
        never shows a reply without the earlier ones. After WINDOW_MAX_BLOCKS reads (a
        long run of deleted replies), one keyset read finishes the page.

        `thread_top` None: no reply of this thread was numbered (every one was stored
        before `threadSeq` existed, and none since), or the root is gone: the keyset
        read of the thread alone (FerretDB: the GIN index on threadId, so it decodes
        every reply of that thread and no other message)."""
        top = max(int(top), 0)
        if after is not None:
            newest = self.stored_through(conversation_id=conversation_id, top=top)
            seqs = {"$gt": Int64(after), "$lte": Int64(newest)}
        else:
            newest = top if before is None else before - 1
            if newest >= top:
                ceiling = self.stored_through(conversation_id=conversation_id, top=top)
                newest = ceiling if before is None else min(newest, ceiling)
            seqs = {"$lte": Int64(newest)}
        found: list[MessageDocument] = []
        if newest < 0:
            return found
        if thread_top is not None:
            cursor = before if before is not None else after
            place = self._thread_seq_at(conversation_id, thread_id, cursor) if cursor else None
            last_block = thread_top // SEQ_BLOCK
            if after is not None:
                block, step, direction = (0 if place is None else place // SEQ_BLOCK), 1, ASCENDING
            else:
                block, step, direction = (last_block if place is None else place // SEQ_BLOCK), -1, DESCENDING
            reads = 0
            while len(found) < limit and block >= 0 and (step < 0 or block <= last_block):
                if reads == WINDOW_MAX_BLOCKS:
                    break
                reads += 1
                query = self._thread_block_query(conversation_id, thread_id, block, seqs)
                found += self._find(
                    query, sort_direction=direction, limit=limit - len(found), hint=self.thread_seq_index
                )
                block += step
            else:
                return found
        # The keyset read of the thread finishes the page, past every reply found: the
        # blocks not read hold only replies older (newer) than all of those.
        view = {"thread_id": thread_id}
        if after is not None:
            bound = found[-1].seq if found else after
            rest = self.page_after(conversation_id=conversation_id, seq=bound, limit=limit - len(found), **view)
            return found + [m for m in rest if m.seq <= newest]
        bound = found[-1].seq if found else newest + 1
        return found + self.page_before(conversation_id=conversation_id, seq=bound, limit=limit - len(found), **view)

    def _thread_seq_at(self, conversation_id: str, thread_id: str, seq: int) -> int | None:
        """The `threadSeq` of the reply of `thread_id` whose seq is `seq`, if there is one
        (a page's cursor names the first or last reply of the page before it): ONE point
        read of an equality on seqBlock and seq, as `stored_through` makes."""
        if seq <= 0:
            return None
        query = {
            self.conversation_field: conversation_id,
            "seqBlock": seq_block(conversation_id, seq),
            "seq": Int64(seq),
        }
        with _mongo_errors():
            raw = self.collection.find_one(query, projection={"threadId": 1, "threadSeq": 1})
        if raw is None or raw.get("threadId") != thread_id or raw.get("threadSeq") is None:
            return None
        return int(raw["threadSeq"])

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
        """The server's explain output of one block read (index checks): of `window_page`
        (`view`: the channel view), or with `thread_id` of `thread_page` (the thread's
        first block, replies up to `seq`)."""
        thread_id = view.get("thread_id")
        if thread_id is not None:
            query = self._thread_block_query(conversation_id, thread_id, 0, {"$lte": Int64(seq)})
            hint = self.thread_seq_index
        else:
            block = seq // SEQ_BLOCK
            query = self._block_query(conversation_id, block, block * SEQ_BLOCK, seq, **view)
            hint = self.seq_index
        with _mongo_errors():
            return self.collection.database.command(
                "explain",
                {
                    "find": self.collection_name,
                    "filter": query,
                    "sort": {"seq": DESCENDING},
                    "limit": limit,
                    "hint": dict(hint),
                },
                verbosity="queryPlanner",
            )
