"""Property test (issue 18): random sequences of sends (by others and by the reader),
replies with and without also_in_channel, edits that add or remove mentions, deletes,
SYSTEM messages, late joins, leaves and re-joins, and read marks, all through the API;
after every step each member's unread_count, mention_count and last_read_seq must equal
the ones computed from the history of operations kept by the test (the contract's
definition applied to a model, independent of the stores)."""

import random
from dataclasses import dataclass, field

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Model:
    id: str
    seq: int
    sender: str | None
    system: bool = False
    thread: str | None = None
    also: bool = False
    mentions: set = field(default_factory=set)
    channel: bool = False
    deleted: bool = False


def _content(rng, users) -> tuple[str, set, bool]:
    target = rng.choice(users)
    return rng.choice(
        [
            ("plain words", set(), False),
            (f"hi <@{target.pk}>", {str(target.pk)}, False),
            (f"ping @{target.username} now", {str(target.pk)}, False),
            ("@channel heads up", set(), True),
            (f"<@{target.pk}> and <!here>", {str(target.pk)}, True),
            ("`<@not-a-mention>` in code", set(), False),
        ]
    )


def _expected(messages: list[Model], reader: str, marker: int) -> tuple[int, int]:
    unread = [
        m
        for m in messages
        if m.seq > marker and not m.deleted and not m.system and m.sender != reader and (m.thread is None or m.also)
    ]
    return len(unread), sum(1 for m in unread if reader in m.mentions or m.channel)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_match_the_history(where, alice, bob, make_user, client_for, seed):
    rng = random.Random(seed)
    carol = make_user("carol")
    people = {str(u.pk): u for u in (alice, bob, carol)}
    clients = {uid: client_for(user) for uid, user in people.items()}
    base = where.url.rsplit("/messages", 1)[0]
    members = {str(alice.pk), str(bob.pk)}
    markers = {uid: 0 for uid in people}
    messages: list[Model] = []

    def newest() -> int:
        return max((m.seq for m in messages), default=0)

    def newest_system(uid):
        page = clients[uid].get(where.url, {"limit": 1}).json()["results"]
        message = page[-1]
        assert message["type"] == "SYSTEM"
        messages.append(Model(message["id"], message["seq"], message["sender_id"], system=True))
        return message["seq"]

    for _step in range(45):
        op = rng.choices(["send", "reply", "edit", "delete", "read", "join", "leave"], weights=[6, 3, 3, 2, 4, 1, 1])[0]
        if op in ("join", "leave") and where.kind != "channel":
            op = "send"
        carol_id = str(carol.pk)
        if op == "join" and carol_id not in members:
            assert clients[carol_id].post(f"{base}/join").status_code == 200
            members.add(carol_id)
            markers[carol_id] = max(markers[carol_id], newest_system(carol_id))  # a new member read everything
        elif op == "leave" and carol_id in members:
            assert clients[carol_id].post(f"{base}/leave").status_code == 204
            members.discard(carol_id)
            newest_system(str(alice.pk))
        elif op in ("send", "reply"):
            sender = rng.choice(sorted(members))
            content, mentioned, channel_wide = _content(rng, list(people.values()))
            body = {"content": content}
            roots = [m for m in messages if not m.system and not m.deleted and m.thread is None]
            if op == "reply" and roots:
                body["thread_id"] = rng.choice(roots).id
                body["also_in_channel"] = rng.random() < 0.4
            answer = clients[sender].post(where.url, body, format="json")
            assert answer.status_code == 201, answer.json()
            data = answer.json()
            assert set(data["mentions"]) == mentioned and data["mentions_channel"] == channel_wide
            messages.append(
                Model(
                    data["id"],
                    data["seq"],
                    sender,
                    thread=body.get("thread_id"),
                    also=body.get("also_in_channel", False),
                    mentions=mentioned,
                    channel=channel_wide,
                )
            )
        elif op == "edit":
            mine = [m for m in messages if not m.system and not m.deleted and m.sender in members]
            if mine:
                target = rng.choice(mine)
                content, mentioned, channel_wide = _content(rng, list(people.values()))
                answer = clients[target.sender].patch(f"{where.url}/{target.id}", {"content": content}, format="json")
                assert answer.status_code == 200, answer.json()
                target.mentions, target.channel = mentioned, channel_wide
        elif op == "delete":
            live = [m for m in messages if not m.system and not m.deleted and m.sender in members]
            if live:
                target = rng.choice(live)
                assert clients[target.sender].delete(f"{where.url}/{target.id}").status_code == 204
                target.deleted = True
        elif op == "read":
            reader = rng.choice(sorted(members))
            seq = rng.randint(0, newest() + 3)
            markers[reader] = max(markers[reader], min(seq, newest()))
        # Every member's state, from the API, against the model.
        for uid in sorted(members):
            seq = markers[uid] if op == "read" else 0
            answer = clients[uid].put(f"{base}/read", {"seq": seq}, format="json")
            assert answer.status_code == 200, answer.json()
            unread, mentions = _expected(messages, uid, markers[uid])
            assert answer.json() == {
                "last_read_seq": markers[uid],
                "unread_count": unread,
                "mention_count": mentions,
            }, (
                _step,
                op,
                people[uid].username,
            )
    for uid in sorted(members):
        unread, mentions = _expected(messages, uid, markers[uid])
        totals = clients[uid].get("/api/v1/unreads").json()
        assert totals["unread_conversations"] == (1 if unread else 0)
        assert totals["mention_count"] == mentions
