"""The PostgreSQL search backend (the default): the table `search_entries` (migration
search/0001), one row per stored message, written in the same transaction as the
message's seq (see search.services).

Matching (search.query): a *word* is a prefix query on `vector` (a tsvector of the
unaccented text: the parser's tokens plus every alphanumeric run, GIN-indexed); any
other term and every phrase is a LIKE on `folded` (lower(unaccent(content))) served by
a pg_trgm GIN index, which also finds CJK substrings, emoji and punctuated tokens.
Every search runs under a transaction-local `statement_timeout` (SEARCH_STATEMENT_TIMEOUT_MS).
"""

import re
from datetime import UTC, datetime

from django.conf import settings
from django.db import OperationalError, connection, transaction

from messaging.documents import Conversation, ConversationKind, MessageDocument
from search.backends import Hit, SearchSpec
from search.query import invalid_query
from slackclone.sql import Statement, execute_together, unnest_statements

_CONFIG = "public.slackclone_search"
_LINK = re.compile(r"(?i)(?:\bhttps?://|\bwww\.)\S")

_UPSERT_TYPES = (
    "varchar", "uuid", "varchar", "uuid", "bigint", "uuid", "varchar",
    "timestamptz", "timestamptz", "text", "boolean", "boolean", "boolean", "boolean",
)  # fmt: skip
_UPSERT_SQL = """
INSERT INTO search_entries (message_id, workspace_id, kind, conversation_id, seq, sender_id, type, created_at,
                            deleted_at, content, has_link, has_file, has_pin, is_thread)
{rows}
ON CONFLICT (message_id) DO UPDATE SET
    workspace_id = EXCLUDED.workspace_id, seq = EXCLUDED.seq, sender_id = EXCLUDED.sender_id,
    type = EXCLUDED.type, created_at = EXCLUDED.created_at, deleted_at = EXCLUDED.deleted_at,
    content = EXCLUDED.content, has_link = EXCLUDED.has_link, has_file = EXCLUDED.has_file,
    has_pin = EXCLUDED.has_pin, is_thread = EXCLUDED.is_thread
WHERE search_entries.content IS DISTINCT FROM EXCLUDED.content
   OR search_entries.deleted_at IS DISTINCT FROM EXCLUDED.deleted_at
   OR (search_entries.has_link, search_entries.has_file, search_entries.has_pin, search_entries.is_thread)
      IS DISTINCT FROM (EXCLUDED.has_link, EXCLUDED.has_file, EXCLUDED.has_pin, EXCLUDED.is_thread)
   OR search_entries.workspace_id IS DISTINCT FROM EXCLUDED.workspace_id
"""


def flags_of(message: MessageDocument) -> tuple[bool, bool, bool, bool]:
    """(has_link, has_file, has_pin, is_thread) from the message's content and document
    fields; `files`, `pinned_at` and `thread_id`/`root_id` are read when the document has
    them (issues 20 and 17 add them), so the flags fill in once those land."""
    has_file = bool(getattr(message, "files", None) or getattr(message, "file_ids", None))
    has_pin = getattr(message, "pinned_at", None) is not None
    is_thread = bool(
        getattr(message, "thread_id", None) or getattr(message, "root_id", None) or getattr(message, "reply_count", 0)
    )
    return bool(_LINK.search(message.content)), has_file, has_pin, is_thread


def _row(message: MessageDocument) -> list:
    conversation = message.conversation
    return [
        message.id,
        conversation.workspace_id,
        conversation.kind.value,
        conversation.id,
        message.seq,
        message.sender_id,
        message.type.value,
        message.created_at,
        message.deleted_at,
        message.content.replace("\x00", ""),
        *flags_of(message),
    ]


def _folded_for(text: str) -> str:
    """The column expression a LIKE of `text` tests. pg_trgm extracts no trigram from a
    pattern of fewer than 3 characters (`部署`, `db`): its GIN index would then return
    every row of the table, which the planner does not foresee (at 1,000,000 rows it
    chose that index for `%部署%` and ran into the statement timeout). `folded || ''` is
    the same text that the index does not serve, so such a term is tested on the rows
    the other conditions (the caller's conversations) select."""
    return "folded" if len(text) >= 3 else "(folded || '')"


def _like(text: str) -> str:
    """A LIKE pattern of `text` anywhere. An emoji's variation selector (U+FE0E/U+FE0F,
    which phones add and desktops often do not) may or may not be in the message: it is
    a wildcard there, so "❤️" finds "❤" and "❤️", and "❤️‍🔥" both of its spellings."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "%" + escaped.replace("\ufe0f", "%").replace("\ufe0e", "%") + "%"


# A phrase: its words in order, whatever whitespace separates them in the message (a
# line break, two spaces, a tab), as search.highlight marks it: a regular expression on
# `folded` (which pg_trgm's index serves as it serves LIKE), made of the folded phrase
# with every character but letters, digits and spaces escaped, and each space made
# `[[:space:]]+`.
_PHRASE_SQL = (
    "folded ~ replace(regexp_replace(search_fold(%s), '([^[:alnum:] ])', '\\\\\\1', 'g'), ' ', '[[:space:]]+')"
)


class PostgresSearchBackend:
    """See the module docstring; the interface is search.backends.SearchBackend."""

    # --- writes (inside the caller's transaction) -----------------------------------

    def index_statements(self, messages: list[MessageDocument]) -> list[Statement]:
        """Upserts of at most ROWS_PER_STATEMENT rows, one array per column (slackclone.sql.unnest_statements); a
        message given twice is written once (its last version: one statement may not
        update a row twice)."""
        latest = {message.id: message for message in messages}
        return unnest_statements(_UPSERT_SQL, _UPSERT_TYPES, [_row(message) for message in latest.values()])

    def index_messages(self, messages: list[MessageDocument]) -> None:
        for statement in self.index_statements(messages):  # a round trip each (a reindex batch is any size)
            execute_together([statement])

    def mark_deleted(self, messages: list[MessageDocument]) -> None:
        if not messages:
            return
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE search_entries SET deleted_at = %s WHERE message_id = %s",
                [[message.deleted_at or datetime.now(UTC), message.id] for message in messages],
            )

    def delete_conversation(self, conversation: Conversation) -> int:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM search_entries WHERE conversation_id = %s", [conversation.id])
            return cursor.rowcount

    def delete_older_than(
        self, *, created_before: datetime, kind: ConversationKind, conversation_id=None, workspace_id=None
    ) -> int:
        where, params = ["kind = %s", "created_at < %s"], [kind.value, created_before]
        if conversation_id is not None:
            where.append("conversation_id = %s")
            params.append(str(conversation_id))
        if workspace_id is not None:
            where.append("workspace_id = %s")
            params.append(str(workspace_id))
        total = 0
        sql = (
            "DELETE FROM search_entries WHERE message_id IN "  # noqa: S608 (fixed fragments; every value is a parameter)
            f"(SELECT message_id FROM search_entries WHERE {' AND '.join(where)} LIMIT 5000)"
        )
        while True:  # in batches: short transactions beside live traffic
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                deleted = cursor.rowcount
            total += deleted
            if deleted < 5000:
                return total

    # --- reads ------------------------------------------------------------------------

    def search(self, spec: SearchSpec) -> list[Hit]:
        where: list[str] = []
        params: list = []
        if spec.workspace_id is not None and spec.conversations is None:
            # (Given conversations are already the workspace's: the membership selectors
            # answered for it. Their ids then decide, on the indexed conversation_id.)
            where.append("workspace_id = %s")
            params.append(spec.workspace_id)
        if spec.conversations is not None:
            if not spec.conversations:
                return []
            where.append("conversation_id = ANY(%s::uuid[])")
            params.append([c.id for c in spec.conversations])
        if spec.kind is not None:
            where.append("kind = %s")
            params.append(spec.kind.value)
        if spec.deleted is not None:
            where.append("deleted_at IS NOT NULL" if spec.deleted else "deleted_at IS NULL")
        if spec.text_only:
            where.append("type = 'TEXT'")
        if spec.sender_ids is not None:
            if not spec.sender_ids:
                return []
            where.append("sender_id = ANY(%s::uuid[])")
            params.append(spec.sender_ids)
        if spec.created_from is not None:
            where.append("created_at >= %s")
            params.append(spec.created_from)
        if spec.created_before is not None:
            where.append("created_at < %s")
            params.append(spec.created_before)
        for flag in sorted(spec.has):
            where.append(f"has_{flag}")  # a value of search.query.HAS_VALUES
        if "thread" in spec.is_:
            where.append("is_thread")
        words = [t.text for t in spec.terms if t.kind == "word" and not t.exclude]
        rank_sql, rank_params = "0::real", []
        if words:
            tsquery = " & ".join(f"'{word}':*" for word in words)  # words are letters and digits only
            where.append(f"vector @@ to_tsquery('{_CONFIG}', %s)")
            params.append(tsquery)
            rank_sql, rank_params = f"ts_rank(vector, to_tsquery('{_CONFIG}', %s))", [tsquery]
        for term in spec.terms:
            if term.kind == "word":
                if term.exclude:
                    where.append(f"NOT vector @@ to_tsquery('{_CONFIG}', %s)")
                    params.append(f"'{term.text}':*")
                continue
            if term.kind == "phrase":
                condition, values = _PHRASE_SQL, [term.text]
            else:
                condition, values = f"{_folded_for(term.text)} LIKE search_fold(%s)", [_like(term.text)]
            where.append(("NOT " if term.exclude else "") + f"({condition})")
            params += values
        inner = f"SELECT message_id, kind, conversation_id, created_at, {rank_sql} AS rank FROM search_entries" + (  # noqa: S608 (fixed fragments; every value is a parameter)
            f" WHERE {' AND '.join(where)}" if where else ""
        )
        sql_params = rank_params + params
        if spec.sort == "relevance":
            order = "rank DESC, created_at DESC, message_id DESC"
            seek_sql = "(rank, created_at, message_id) < (%s::real, %s, %s)"
            seek_params = list(spec.seek) if spec.seek else []
        else:
            order = "created_at DESC, message_id DESC"
            seek_sql = "(created_at, message_id) < (%s, %s)"
            seek_params = list(spec.seek[1:]) if spec.seek else []
        sql = f"SELECT * FROM ({inner}) hits"  # noqa: S608 (fixed fragments; every value is a parameter)
        if spec.seek:
            sql += f" WHERE {seek_sql}"
            sql_params += seek_params
        sql += f" ORDER BY {order} LIMIT %s"
        sql_params.append(spec.limit)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # set_config(..., true) is SET LOCAL that takes a parameter under either binding
                # (a SET statement takes none when the server binds: DATABASES' server_side_binding).
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true)", [str(int(settings.SEARCH_STATEMENT_TIMEOUT_MS))]
                )
                cursor.execute(sql, sql_params)
                rows = cursor.fetchall()
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == "57014":  # query_canceled: the timeout
                raise invalid_query("This search takes too long; add words or operators to narrow it.") from exc
            raise
        return [
            Hit(
                message_id=mid,
                kind=ConversationKind(kind),
                conversation_id=str(cid),
                created_at=created_at.astimezone(UTC),
                rank=float(rank),
            )
            for mid, kind, cid, created_at, rank in rows
        ]
