"""Reads of search: the message search of GET /search/messages (API.md "Search") and
the moderation list's text filter. The access rule is not here: the conversations a
caller may search are the ones the membership selectors give (channels_app's
`user_channel_ids`, dms' `user_dm_ids`) for the token's workspace, asked at query time,
so a conversation left a moment ago is not searched any more.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core import signing
from django.db.models import Q

from accounts.selectors import users_of_workspace, workspace_or_default
from channels_app.models import Channel
from channels_app.selectors import user_channel_ids
from dms.selectors import group_dm_ids_among, user_dm_ids
from messaging.documents import Conversation, ConversationKind, MessageDocument
from messaging.repositories import repository_for
from search.backends import Hit, SearchSpec, get_backend
from search.highlight import highlights
from search.query import ParsedQuery, Term, invalid_query, parse_query
from slackclone import errors

LIMIT_DEFAULT = 50  # the contract's conventions for paginated lists: default 50, max 200
LIMIT_MAX = 200
SORTS = ("recent", "relevance")
_SALT = "search.cursor"
_signer = signing.Signer(salt=_SALT, sep=".")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class SearchResult:
    message: MessageDocument
    conversation_name: str | None  # a channel's name; None for a DM
    highlights: list[list[int]]
    conversation_kind: str = "channel"  # "channel", "dm" or "group_dm" (as the sidebar says)


@dataclass(frozen=True, slots=True)
class SearchPage:
    results: list[SearchResult]
    next_cursor: str | None


def _invalid_cursor() -> errors.ValidationFailed:
    return errors.ValidationFailed("Invalid cursor.", fields={"cursor": ["Invalid cursor."]}, code="invalid_cursor")


def _encode_cursor(*, user_id: str, workspace_id: str, q: str, sort: str, hit: Hit) -> str:
    """A signed position: the last hit's sort key, bound to the caller, the workspace,
    the query and the sort (a cursor of another search is 400 `invalid_cursor`)."""
    micros = (hit.created_at - _EPOCH) // _US
    digest = hashlib.sha256(q.encode()).hexdigest()[:16]
    return _signer.sign_object([user_id, workspace_id, digest, sort, hit.rank, micros, hit.message_id])


def _decode_cursor(token: object, *, user_id: str, workspace_id: str, q: str, sort: str) -> tuple:
    if not isinstance(token, str) or not token or len(token) > 512:
        raise _invalid_cursor()
    try:
        payload = _signer.unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeDecodeError) as exc:
        raise _invalid_cursor() from exc
    digest = hashlib.sha256(q.encode()).hexdigest()[:16]
    if (
        not isinstance(payload, list)
        or len(payload) != 7
        or payload[:4] != [user_id, workspace_id, digest, sort]
        or not isinstance(payload[4], int | float)
        or not isinstance(payload[5], int)
        or not isinstance(payload[6], str)
    ):
        raise _invalid_cursor()
    try:
        created_at = _EPOCH + payload[5] * _US
    except OverflowError as exc:
        raise _invalid_cursor() from exc
    return (float(payload[4]), created_at, payload[6])


def _clean_limit(limit: object) -> int:
    if limit in (None, ""):
        return LIMIT_DEFAULT
    try:
        value = int(str(limit))
    except ValueError:
        value = 0
    if not 1 <= value <= LIMIT_MAX:
        text = f"limit must be an integer from 1 to {LIMIT_MAX}."
        raise errors.ValidationFailed(text, fields={"limit": [text]})
    return value


def _readable_conversations(*, user, workspace, parsed: ParsedQuery) -> list[Conversation]:
    """The conversations of the token's workspace that `user` belongs to now (the
    membership selectors decide), narrowed by in:#channel and in:@user."""
    workspace_id = str(workspace.pk)
    channels = user_channel_ids(user_id=user.pk, workspace_id=workspace_id)
    dms = user_dm_ids(user_id=user.pk, workspace_id=workspace_id)
    if parsed.in_channels or parsed.in_dms:
        wanted_channels: set[str] = set()
        for name in parsed.in_channels:
            wanted_channels |= {
                str(pk)
                for pk in Channel.objects.filter(workspace_id=workspace.pk, name__iexact=name).values_list(
                    "pk", flat=True
                )
            }
        channels = [cid for cid in channels if cid in wanted_channels]
        wanted_dms: set[str] = set()
        if parsed.in_dms:
            from dms.models import DmConversation

            others = users_of_workspace(workspace=workspace, active_only=False).filter(_usernames(parsed.in_dms))
            other_ids = [u.pk for u in others]
            pairs = DmConversation.objects.filter(workspace_id=workspace.pk, pk__in=dms)
            for conversation in pairs.values("pk", "user1_id", "user2_id"):
                pair = (conversation["user1_id"], conversation["user2_id"])
                if user.pk in pair and any(other in pair for other in other_ids):
                    wanted_dms.add(str(conversation["pk"]))
        dms = [cid for cid in dms if cid in wanted_dms]
    return [Conversation(ConversationKind.CHANNEL, cid, workspace_id) for cid in channels] + [
        Conversation(ConversationKind.DM, cid, workspace_id) for cid in dms
    ]


def _usernames(names: list[str]) -> Q:
    """Any of these usernames, case-insensitively (as people type them)."""
    condition = Q(pk__in=[])
    for name in names:
        condition |= Q(username__iexact=name)
    return condition


def _sender_ids(*, workspace, parsed: ParsedQuery) -> list[str] | None:
    if not parsed.from_users:
        return None
    users = users_of_workspace(workspace=workspace, active_only=False).filter(_usernames(parsed.from_users))
    return [str(pk) for pk in users.values_list("pk", flat=True)]


def _documents(hits: list[Hit]) -> dict[str, MessageDocument]:
    found: dict[str, MessageDocument] = {}
    for kind in ConversationKind:
        ids = [hit.message_id for hit in hits if hit.kind is kind]
        if ids:
            found.update(repository_for(kind).get_each(message_ids=ids))
    return found


def message_search(
    *, user, workspace, q: object, sort: object = None, cursor: object = None, limit: object = None
) -> SearchPage:
    """GET /search/messages: the live TEXT messages of the conversations `user` belongs
    to now in `workspace` matching `q` (search.query), `sort` "recent" (newest first,
    the default) or "relevance" (text rank, then newest), `limit` 1-200 (default 50, the contract's conventions),
    paged by a signed `cursor` (the last hit's sort key: stable while messages arrive).

    400 `invalid_query` (search.query, or a search that hit the statement timeout), 400
    `invalid_cursor`, 400 for a bad sort or limit, 503 if MongoDB is down. Each result
    is re-read from MongoDB and dropped if it was deleted meanwhile."""
    workspace = workspace_or_default(workspace)
    sort = sort or "recent"
    if sort not in SORTS:
        text = "sort must be recent or relevance."
        raise errors.ValidationFailed(text, fields={"sort": [text]})
    limit = _clean_limit(limit)
    parsed = parse_query(q)
    user_id, workspace_id = str(user.pk), str(workspace.pk)
    seek = _decode_cursor(cursor, user_id=user_id, workspace_id=workspace_id, q=q, sort=sort) if cursor else None
    conversations = _readable_conversations(user=user, workspace=workspace, parsed=parsed)
    sender_ids = _sender_ids(workspace=workspace, parsed=parsed)
    if not conversations or sender_ids == []:
        return SearchPage(results=[], next_cursor=None)
    hits = get_backend().search(
        SearchSpec(
            workspace_id=workspace_id,
            conversations=conversations,
            terms=parsed.terms,
            sender_ids=sender_ids,
            created_from=parsed.created_from,
            created_before=parsed.created_before,
            has=frozenset(parsed.has),
            is_=frozenset(parsed.is_),
            sort=sort,
            seek=seek,
            limit=limit + 1,
        )
    )
    page = hits[:limit]
    documents = _documents(page)
    channel_ids = [hit.conversation_id for hit in page if hit.kind is ConversationKind.CHANNEL]
    names = {str(pk): name for pk, name in Channel.objects.filter(pk__in=channel_ids).values_list("pk", "name")}
    group_ids = group_dm_ids_among(
        conversation_ids=[hit.conversation_id for hit in page if hit.kind is ConversationKind.DM]
    )
    results = []
    for hit in page:
        message = documents.get(hit.message_id)
        if message is None or message.is_deleted:
            continue
        name = names.get(hit.conversation_id) if hit.kind is ConversationKind.CHANNEL else None
        if hit.kind is ConversationKind.CHANNEL:
            kind = "channel"
        else:
            kind = "group_dm" if hit.conversation_id in group_ids else "dm"
        results.append(
            SearchResult(
                message=message,
                conversation_name=name,
                highlights=highlights(message.content, parsed),
                conversation_kind=kind,
            )
        )
    next_cursor = None
    if len(hits) > limit:
        next_cursor = _encode_cursor(user_id=user_id, workspace_id=workspace_id, q=q, sort=sort, hit=page[-1])
    return SearchPage(results=results, next_cursor=next_cursor)


def moderation_message_ids(
    *,
    kind: ConversationKind,
    text: str,
    workspace_id: str | None,
    conversation_id: str | None,
    sender_id: str | None,
    created_from: datetime | None,
    created_before: datetime | None,
    deleted: bool | None,
    seek: tuple[datetime, str] | None,
    limit: int,
) -> list[str]:
    """The moderation list's text filter, on the same engine: ids of the messages of
    one collection containing `text` (case- and accent-insensitive substring, SYSTEM
    messages and deleted ones included as `deleted` says), newest first."""
    if not text.strip():
        raise invalid_query("Type something to search for.")
    spec = SearchSpec(
        workspace_id=workspace_id,
        conversations=[Conversation(kind, conversation_id)] if conversation_id else None,
        terms=[Term(" ".join(text.split()), "substring")],
        sender_ids=[sender_id] if sender_id else None,
        created_from=created_from,
        created_before=created_before,
        kind=kind,
        deleted=deleted,
        text_only=False,
        seek=(0.0, seek[0], seek[1]) if seek else None,
        limit=limit,
    )
    return [hit.message_id for hit in get_backend().search(spec)]


@dataclass(frozen=True, slots=True)
class IndexDrift:
    """A conversation whose index entries disagree with MongoDB (messages created before
    the check started): (all stored, live) in each."""

    conversation: Conversation
    stored: tuple[int, int]
    indexed: tuple[int, int]


def index_drift(*, created_before: datetime) -> list[IndexDrift]:
    """manage.py check_consistency: the conversations whose count of messages, or of
    live messages, differs between MongoDB and the search index (a send that committed
    its index row but whose answer was lost is not drift; a restore of one store
    without the other, or an index written by an older version, is)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, conversation_id, count(*), count(*) FILTER (WHERE deleted_at IS NULL) "
            "FROM search_entries WHERE created_at < %s GROUP BY kind, conversation_id",
            [created_before],
        )
        indexed = {(ConversationKind(kind), str(cid)): (int(n), int(live)) for kind, cid, n, live in cursor.fetchall()}
    drift = []
    for kind in ConversationKind:
        repo = repository_for(kind)
        total = repo.counts_per_conversation(created_before=created_before)
        live = repo.counts_per_conversation(created_before=created_before, live_only=True)
        for conversation_id in set(total) | {cid for k, cid in indexed if k is kind}:
            stored = (total.get(conversation_id, 0), live.get(conversation_id, 0))
            found = indexed.get((kind, conversation_id), (0, 0))
            if stored != found:
                drift.append(IndexDrift(Conversation(kind, conversation_id), stored, found))
    return sorted(drift, key=lambda d: (d.conversation.kind.value, d.conversation.id))
