"""Who follows a thread (contract: "Threads"; issue 17), written under the
conversation's lock as its replies are counted: the root's author, every replier and
everyone mentioned in the thread; their rows' newest reply time (GET /threads orders by
it); and the thread marker of one who starts following late, through a mention
(docs/read-state.md). Split out of messaging.threads, which calls these."""

import contextlib
from uuid import UUID

from messaging.documents import MessageDocument
from messaging.models import ThreadFollow
from messaging.repositories import repository_for
from messaging.repositories.base import SEQ_BLOCK
from readstate.models import ThreadReadMarker
from slackclone import errors


def _follow_fields(root: MessageDocument) -> dict:
    """The ThreadFollow fields every follower row of `root`'s thread shares."""
    conversation = root.conversation
    return {
        "workspace_id": conversation.workspace_id,
        "kind": conversation.kind.value,
        "conversation_id": UUID(conversation.id),
        "root_id": root.id,
        "last_reply_at": root.last_reply_at,
    }


def follows_touch(root: MessageDocument) -> None:
    """Every follower row of `root`'s thread gets its newest visible reply's time (None
    once its replies are all deleted): what GET /threads orders and filters by."""
    ThreadFollow.objects.filter(root_id=root.id).update(last_reply_at=root.last_reply_at)


def follows_on_replies(*, root: MessageDocument, replies: list[MessageDocument]) -> None:
    """The repliers follow (again, even after an unfollow); the root's author and
    everyone mentioned in the root or the replies follow unless they unfollowed; every
    follower row gets the thread's newest reply time."""
    common = _follow_fields(root)
    repliers = sorted({reply.sender_id for reply in replies if reply.sender_id is not None})
    mentioned = {uid for reply in replies for uid in reply.mentions}
    # Who a reply mentions before their own first reply of the batch, as if the batch's
    # replies had been counted one by one: a replier mentioned earlier in the same batch
    # starts following at that mention too (their own reply then finds them following).
    first_reply = {uid: min(r.seq for r in replies if r.sender_id == uid) for uid in repliers}
    late = {
        uid: seq
        for uid in mentioned - {root.sender_id, *root.mentions}
        if (seq := _first_mention(replies, uid)) < first_reply.get(uid, seq + 1)
    }
    late = _late_not_following(root, late)  # before the repliers' rows are written
    if repliers:
        ThreadFollow.objects.bulk_create(
            [ThreadFollow(user_id=uid, following=True, **common) for uid in repliers],
            update_conflicts=True,
            unique_fields=["user", "root_id"],
            update_fields=["following"],
        )
    others = {uid for uid in (root.sender_id, *root.mentions, *mentioned) if uid} - set(repliers)
    if others:
        _follows_add(root=root, user_ids=sorted(others), late={})
    _late_markers_add(root, late, places=[r.thread_seq for r in replies if r.thread_seq is not None])
    follows_touch(root)


def _first_mention(messages: list[MessageDocument], user_id: str) -> int:
    return min(message.seq for message in messages if user_id in message.mentions)


def _late_not_following(root: MessageDocument, late: dict[str, int]) -> dict[str, int]:
    """`late` without those who have a follow row of the thread already."""
    if not late:
        return late
    following = {
        str(uid)
        for uid in ThreadFollow.objects.filter(root_id=root.id, user_id__in=list(late)).values_list(
            "user_id", flat=True
        )
    }
    return {uid: seq for uid, seq in late.items() if uid not in following}


def _late_markers_add(root: MessageDocument, late: dict[str, int], *, places: list[int]) -> None:
    """A thread marker just before its mention for each of `late` (a marker they have is
    kept): before the first live reply that mentions them, that is, for a reply stored
    earlier but counted after this one (a reply with files is counted in its own step,
    `after_send`) has the same right to be unread. Such a reply was stored moments
    before, so it is looked for in the blocks of `places` (the threadSeq of the replies
    being counted) and the block before each: bounded reads, under the lock (a thread
    stored before its replies had places has none: the markers as counted)."""
    if not late:
        return
    earlier = {}
    if places:  # a reply stored just before is in these replies' block or the one before
        blocks = sorted({block for place in places for block in (place // SEQ_BLOCK, place // SEQ_BLOCK - 1)} - {-1})
        with contextlib.suppress(errors.StoreUnavailable):  # the markers as counted: never fail the follows
            earlier = repository_for(root.conversation.kind).first_mentions_in_thread(
                conversation_id=root.conversation.id,
                root_id=root.id,
                user_ids=sorted(late),
                before_seq=max(late.values()),
                blocks=blocks,
            )
    late = {uid: min(seq, earlier.get(uid, seq)) for uid, seq in late.items()}
    common = _follow_fields(root)
    markers = [
        ThreadReadMarker(
            user_id=uid,
            workspace_id=common["workspace_id"],
            kind=common["kind"],
            conversation_id=common["conversation_id"],
            root_id=root.id,
            last_read_seq=seq - 1,
        )
        for uid, seq in sorted(late.items())
    ]
    ThreadReadMarker.objects.bulk_create(markers, ignore_conflicts=True)


def _follows_add(
    *, root: MessageDocument, user_ids: list[str], late: dict[str, int], places: tuple[int, ...] = ()
) -> None:
    """These users follow the thread unless they have a follow row already (an unfollow
    sticks). `late`: {user id: seq} of those a message of the thread mentions at seq
    (not the root's author, not mentioned in the root): one who starts following then
    has their thread marker start just before that message, so it and the replies after
    it are unread, not the replies they were never part of (as a new member's marker
    starts at the newest seq: contract, "Read state"). A marker they have is kept."""
    late = _late_not_following(root, late)
    ThreadFollow.objects.bulk_create(
        [ThreadFollow(user_id=uid, following=True, **_follow_fields(root)) for uid in user_ids], ignore_conflicts=True
    )
    _late_markers_add(root, late, places=list(places))


def follows_on_edit(*, before: MessageDocument, after: MessageDocument) -> None:
    """An edit of a reply, or of a root that has replies, that mentions someone new: they
    follow the thread unless they unfollowed it (contract: "everyone mentioned in the
    thread follow it"; mentions are computed again at edit). A root without replies
    needs nothing: its mentioned follow at its first reply."""
    added = sorted(set(after.mentions) - set(before.mentions) - {after.sender_id})
    if not added:
        return
    conversation = after.conversation
    root = after
    if after.thread_id is not None:
        repo = repository_for(conversation.kind)
        root = repo.get(conversation_id=conversation.id, message_id=after.thread_id, include_deleted=True)
    if root is None or root.reply_count == 0:
        return
    late = {} if after.thread_id is None else dict.fromkeys(added, after.seq)
    places = (after.thread_seq,) if after.thread_seq is not None else ()
    _follows_add(root=root, user_ids=added, late=late, places=places)
