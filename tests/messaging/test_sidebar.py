"""GET /conversations (issue 16): the caller's channels, DMs and group DMs of the token's
workspace, most recent activity first, with the latest visible message."""

import pytest

from messaging.latest import PREVIEW_LENGTH


@pytest.fixture
def world(make_user, client_for):
    alice, bob, carol, dave = (make_user(n) for n in ("alice", "bob", "carol", "dave"))
    a = client_for(alice)
    general = a.post("/api/v1/channels", {"name": "general"}, format="json").json()
    secret = client_for(dave).post("/api/v1/channels", {"name": "secret", "is_private": True}, format="json").json()
    dm = a.post("/api/v1/dms", {"user_id": str(bob.pk)}, format="json").json()
    group = a.post("/api/v1/group-dms", {"user_ids": [str(bob.pk), str(carol.pk)]}, format="json").json()
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "a": a}, general, secret, dm, group


def _ids(response):
    return [(item["kind"], item["id"]) for item in response.json()["results"]]


def test_most_recent_activity_first_with_latest_and_read_state(world, client_for):
    people, general, secret, dm, group = world
    a = people["a"]
    a.post(f"/api/v1/dms/{dm['id']}/messages", {"content": "psst"}, format="json")
    client_for(people["carol"]).post(f"/api/v1/group-dms/{group['id']}/messages", {"content": "hi!"}, format="json")
    response = a.get("/api/v1/conversations")
    assert response.status_code == 200
    assert _ids(response) == [("group_dm", group["id"]), ("dm", dm["id"]), ("channel", general["id"])]
    group_item, dm_item, channel_item = response.json()["results"]
    assert group_item["latest"]["preview"] == "hi!" and group_item["latest"]["sender_id"] == str(people["carol"].pk)
    assert sorted(m["username"] for m in group_item["members"]) == ["alice", "bob", "carol"]
    assert group_item["name"] is None and group_item["other_user"] is None and group_item["is_private"] is True
    assert dm_item["other_user"]["username"] == "bob" and dm_item["latest"]["seq"] == 1
    assert channel_item["name"] == "general" and channel_item["is_private"] is False
    assert channel_item["latest"]["preview"] == "alice joined"  # SYSTEM messages are activity too
    # Read state (issue 18): carol's message is unread for alice; her own DM message and
    # the SYSTEM message are not.
    state = {
        item["kind"]: (item["unread_count"], item["mention_count"], item["muted"])
        for item in response.json()["results"]
    }
    assert state == {"group_dm": (1, 0, False), "dm": (0, 0, False), "channel": (0, 0, False)}
    # A new message moves its conversation to the top.
    a.post(f"/api/v1/channels/{general['id']}/messages", {"content": "x" * 500}, format="json")
    first = a.get("/api/v1/conversations").json()["results"][0]
    assert first["id"] == general["id"] and first["latest"]["preview"] == "x" * PREVIEW_LENGTH
    # Others' private channels never appear.
    assert ("channel", secret["id"]) not in _ids(a.get("/api/v1/conversations"))


def test_kinds_filter_and_bad_input(world):
    people, general, _secret, dm, group = world
    a = people["a"]
    assert _ids(a.get("/api/v1/conversations?kinds=dm,group_dm")) in (
        [("group_dm", group["id"]), ("dm", dm["id"])],
        [("dm", dm["id"]), ("group_dm", group["id"])],
    )
    assert _ids(a.get("/api/v1/conversations?kinds=channel")) == [("channel", general["id"])]
    for bad in ("kinds=thread", "kinds=", "limit=0", "limit=201", "cursor=nonsense"):
        response = a.get(f"/api/v1/conversations?{bad}")
        assert response.status_code == 400, bad


def test_edit_and_delete_of_the_latest_message_move_the_preview(world):
    people, _general, _secret, dm, _group = world
    a = people["a"]
    base = f"/api/v1/dms/{dm['id']}/messages"
    first = a.post(base, {"content": "first"}, format="json").json()
    second = a.post(base, {"content": "second"}, format="json").json()

    def latest():
        items = a.get("/api/v1/conversations?kinds=dm").json()["results"]
        return items[0]["latest"]

    assert latest()["preview"] == "second"
    a.patch(f"{base}/{first['id']}", {"content": "first (edited)"}, format="json")
    assert latest()["preview"] == "second"  # not the latest: nothing moves
    a.patch(f"{base}/{second['id']}", {"content": "second (edited)"}, format="json")
    assert latest()["preview"] == "second (edited)" and latest()["seq"] == 2
    a.delete(f"{base}/{second['id']}")
    assert latest()["preview"] == "first (edited)" and latest()["seq"] == 1
    a.delete(f"{base}/{first['id']}")
    assert latest() is None


def test_pages_follow_the_cursor_with_none_skipped_or_repeated(make_user, client_for):
    alice = make_user("alice")
    a = client_for(alice)
    ids = {a.post("/api/v1/channels", {"name": f"c{n}"}, format="json").json()["id"] for n in range(7)}
    seen, cursor = [], None
    while True:
        response = a.get("/api/v1/conversations?limit=3" + (f"&cursor={cursor}" if cursor else "")).json()
        seen += [item["id"] for item in response["results"]]
        cursor = response["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7 and set(seen) == ids


def test_one_query_for_the_page_however_many_conversations(make_user, client_for, count_queries):
    alice = make_user("alice")
    a = client_for(alice)
    for n in range(12):
        a.post("/api/v1/channels", {"name": f"c{n}"}, format="json")
    others = [make_user(f"u{n}") for n in range(6)]
    for other in others:
        a.post("/api/v1/dms", {"user_id": str(other.pk)}, format="json")
    for n in range(3):
        a.post("/api/v1/group-dms", {"user_ids": [str(others[n].pk), str(others[n + 1].pk)]}, format="json")
    with count_queries() as queries:
        response = a.get("/api/v1/conversations")
    assert len(response.json()["results"]) == 21
    # Authentication (token, membership), the page (with each conversation's newest seq
    # and the caller's read marker: issue 18), the DMs' and group DMs' users.
    page_queries = [q for q in queries if "message_sequences" in q or "read_markers" in q]
    assert len(page_queries) == 1
    assert len(queries) <= 6, queries


def test_the_sidebar_counts_go_up_and_down_with_the_read_marker_and_mutes(world, client_for):
    """GET /conversations carries the read state of issue 18 for every item of the page:
    others' messages and mentions count, PUT …/read clears them, a mute shows."""
    people, _general, _secret, _dm, group = world
    a, carol = people["a"], client_for(people["carol"])
    carol.post(f"/api/v1/group-dms/{group['id']}/messages", {"content": "one"}, format="json")
    last = carol.post(
        f"/api/v1/group-dms/{group['id']}/messages", {"content": f"<@{people['alice'].pk}> two"}, format="json"
    ).json()

    def group_item():
        items = a.get("/api/v1/conversations").json()["results"]
        return next(item for item in items if item["id"] == group["id"])

    item = group_item()
    assert (item["unread_count"], item["mention_count"], item["last_read_seq"]) == (2, 1, 0)
    assert a.put(f"/api/v1/group-dms/{group['id']}/read", {"seq": last["seq"]}, format="json").status_code == 200
    item = group_item()
    assert (item["unread_count"], item["mention_count"], item["last_read_seq"]) == (0, 0, last["seq"])
    assert a.put(f"/api/v1/group-dms/{group['id']}/preferences", {"muted": True}, format="json").status_code == 200
    assert group_item()["muted"] is True


def test_the_preview_never_cuts_an_emoji_sequence_in_half():
    """120 code points, but a grapheme cluster crossing the 120th is left out whole: a
    family emoji (7 code points joined by ZWJ) is never shown as a lone adult."""
    from messaging.latest import PREVIEW_LENGTH, preview_of

    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    text = "x" * (PREVIEW_LENGTH - 3) + family + " and more"
    assert preview_of(text) == "x" * (PREVIEW_LENGTH - 3)
    assert preview_of("x" * (PREVIEW_LENGTH - 7) + family + "y") == "x" * (PREVIEW_LENGTH - 7) + family
    assert preview_of("e\u0301" * 70) == "e\u0301" * 60  # a letter and its accent stay together
    assert preview_of("short " + family) == "short " + family
