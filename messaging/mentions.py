"""Mentions in message content (contract: "Mentions"; issue 17).

`<@USER_ID>` and `@username` mention a member of the conversation's workspace;
`<!channel>`, `<!here>`, `@channel` and `@here` mention everyone in the conversation.
Text inside code (a backtick span, `like @this`, or a fenced block) or a link
(https://medium.com/@bob) mentions nobody.
Names that are not active members of the workspace stay plain text: resolving them
never tells the sender whether such a user exists elsewhere (the result only ever
holds ids of the conversation's workspace).
"""

import re
from dataclasses import dataclass
from uuid import UUID

from accounts.models import User

# A run of backticks, then anything up to the same run (CommonMark code spans; fenced
# blocks are backtick runs of 3 or more and are covered by the same rule). The opening
# run is bounded: with `(`+)`, a long run of backticks that no later run closes made the
# engine try every length at every position (4,000 characters of "````…a": ~0.5 s of CPU
# per send or edit); with at most 16 the work stays linear in practice.
_CODE = re.compile(r"(`{1,16})(?s:.+?)\1")
# A link: its `@` is part of an address (https://medium.com/@bob, https://x.com/@here),
# not a mention, as in code. Up to whitespace or an angle bracket (Slack's `<url|label>`).
# The scheme has at most 32 characters: unbounded, "a.a.a.…" made the engine scan to
# the end from every letter (4,000 characters: ~35 ms of CPU per send or edit).
_URL = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.\-]{0,31}://|www\.)[^\s<>]+")
_USER_ID = re.compile(r"<@([0-9a-fA-F-]{32,36})>")
# `@Channel`, `@HERE`: in any case, as `@Alice` mentions alice (a phone capitalises the
# first word of a sentence); Slack's `<!channel>` tokens are written by clients, lower-case.
_SPECIAL = re.compile(r"<!(channel|here|everyone)>|(?<![\w.@])@(?i:channel|here)\b")
# Usernames: [A-Za-z0-9_.-]{1,32} (accounts.serializers); not preceded by a word
# character, so e-mail addresses mention nobody; a trailing "." ends a sentence; not
# followed by one either (`@bób` is no mention of "b", nor `@b` + a combining accent).
_USERNAME = re.compile(r"(?<![\w.@-])@([A-Za-z0-9_.\-]{1,32})(?![\w\u0300-\u036f])")
MENTIONS_MAX = 50


@dataclass(frozen=True, slots=True)
class Mentions:
    user_ids: tuple[str, ...]  # in order of first appearance, at most MENTIONS_MAX
    channel: bool  # <!channel>, <!here>, @channel or @here


@dataclass(frozen=True, slots=True)
class Parsed:
    user_ids: tuple[str, ...]
    usernames: tuple[str, ...]  # lower-cased
    channel: bool


def mentions_parse(content: str) -> Parsed:
    """The candidate mentions of `content`, outside code and links (pure; no store)."""
    text = _URL.sub(" ", _CODE.sub(" ", content))
    ids: list[str] = []
    for match in _USER_ID.finditer(text):
        try:
            user_id = str(UUID(match.group(1)))
        except ValueError:
            continue
        if user_id not in ids:
            ids.append(user_id)
    text_without_ids = _USER_ID.sub(" ", text)
    channel = bool(_SPECIAL.search(text_without_ids))
    names: list[str] = []
    for match in _USERNAME.finditer(text_without_ids):
        name = match.group(1).rstrip(".-").lower()
        if name and name not in ("channel", "here") and name not in names:
            names.append(name)
    return Parsed(tuple(ids[:MENTIONS_MAX]), tuple(names[:MENTIONS_MAX]), channel)


def mentions_resolve(*, content: str, workspace_id: str | None) -> Mentions:
    """Mentions of `content` resolved against the active members of `workspace_id`
    (one query); candidates outside it are dropped."""
    parsed = mentions_parse(content)
    if workspace_id is None or not (parsed.user_ids or parsed.usernames):
        return Mentions((), parsed.channel)
    rows = User.objects.filter(
        workspace_memberships__workspace_id=workspace_id,
        workspace_memberships__is_active=True,
        is_active=True,
        # Usernames are stored lower-cased (accounts.models.User).
    ).filter(_ids_or_names(parsed))
    found = {str(pk): username for pk, username in rows.values_list("pk", "username")}
    by_name = {username: pk for pk, username in found.items()}
    ordered: list[str] = [uid for uid in parsed.user_ids if uid in found]
    for name in parsed.usernames:
        uid = by_name.get(name)
        if uid is not None and uid not in ordered:
            ordered.append(uid)
    return Mentions(tuple(ordered[:MENTIONS_MAX]), parsed.channel)


def _ids_or_names(parsed: Parsed):
    from django.db.models import Q

    return Q(pk__in=list(parsed.user_ids)) | Q(username__in=list(parsed.usernames))


@dataclass(frozen=True, slots=True)
class MentionsPage:
    results: list  # MessageDocument, newest first
    next_cursor: str | None


def mentions_list(*, user, workspace, cursor: object = None, limit: object = None) -> MentionsPage:
    """GET /mentions: live messages that mention `user` (<@id> or @username), newest
    first, in the channels and DMs of `workspace` the user is in NOW (a channel left
    since drops out); keyset-paged on (createdAt, _id) with a signed cursor (400
    `invalid_cursor`). One query per collection on its (mentions, createdAt, _id) index,
    merged."""
    from channels_app.selectors import user_channel_ids
    from dms.selectors import user_dm_ids
    from messaging import repositories_ext as ext
    from messaging import validation
    from messaging.cursors import decode_mentions_cursor, encode_mentions_cursor
    from messaging.documents import ConversationKind
    from messaging.repositories import repository_for

    user_id, workspace_id = str(user.pk), str(workspace.pk)
    limit = validation.clean_limit(limit)
    seek = decode_mentions_cursor(cursor, user_id=user_id) if cursor is not None else None
    scopes = {
        ConversationKind.CHANNEL: user_channel_ids(user_id=user_id, workspace_id=workspace_id),
        ConversationKind.DM: user_dm_ids(user_id=user_id, workspace_id=workspace_id),
    }
    found = []
    for kind, conversation_ids in scopes.items():
        found += ext.mentions_page(
            repository_for(kind), user_id=user_id, conversation_ids=conversation_ids, seek=seek, limit=limit + 1
        )
    found.sort(key=lambda message: (message.created_at, message.id), reverse=True)
    results = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = results[-1]
        next_cursor = encode_mentions_cursor(user_id=user_id, created_at=last.created_at, message_id=last.id)
    return MentionsPage(results=results, next_cursor=next_cursor)
