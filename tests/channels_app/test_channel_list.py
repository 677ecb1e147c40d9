import pytest


def names(response):
    return [channel["name"] for channel in response.json()["results"]]


@pytest.fixture
def setup(make_user, make_channel, client_for):
    alice, bob = make_user("alice"), make_user("bob")
    for name in ["random", "dev-backend", "general", "dev-frontend"]:
        make_channel(alice, name)
    make_channel(bob, "bob-only")
    client_for(bob).post("/api/v1/channels/" + make_channel(alice, "design")["id"] + "/join")
    return alice, bob


def test_list_channels_lists_every_channel_by_name_with_counts_and_membership(setup, client_for):
    _alice, bob = setup

    response = client_for(bob).get("/api/v1/channels")

    assert response.status_code == 200
    results = response.json()["results"]
    assert names(response) == ["bob-only", "design", "dev-backend", "dev-frontend", "general", "random"]
    by_name = {channel["name"]: channel for channel in results}
    assert by_name["design"]["member_count"] == 2
    assert by_name["design"]["is_member"] is True
    assert by_name["general"]["member_count"] == 1
    assert by_name["general"]["is_member"] is False
    assert by_name["bob-only"]["created_by"] == str(bob.pk)
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize("value", ["true", "True", "1"])
def test_list_channels_member_true_lists_only_mine(setup, client_for, value):
    _alice, bob = setup

    response = client_for(bob).get("/api/v1/channels", {"member": value})

    assert names(response) == ["bob-only", "design"]
    assert all(channel["is_member"] for channel in response.json()["results"])


def test_list_channels_member_false_lists_all(setup, client_for):
    _alice, bob = setup

    assert len(names(client_for(bob).get("/api/v1/channels", {"member": "false"}))) == 6


def test_list_channels_member_must_be_a_boolean(setup, client_for):
    response = client_for(setup[1]).get("/api/v1/channels", {"member": "maybe"})

    assert response.status_code == 400
    assert "member" in response.json()["error"]["fields"]


def test_list_channels_q_is_a_case_insensitive_name_prefix(setup, client_for):
    _alice, bob = setup

    assert names(client_for(bob).get("/api/v1/channels", {"q": "DEV"})) == ["dev-backend", "dev-frontend"]
    assert names(client_for(bob).get("/api/v1/channels", {"q": "backend"})) == []
    assert names(client_for(bob).get("/api/v1/channels", {"q": "d", "member": "true"})) == ["design"]


def test_list_channels_q_treats_wildcards_literally(setup, client_for):
    assert names(client_for(setup[1]).get("/api/v1/channels", {"q": "_"})) == []


def test_list_channels_rejects_an_over_long_q(setup, client_for):
    assert client_for(setup[1]).get("/api/v1/channels", {"q": "a" * 81}).status_code == 400


def test_list_channels_pages_with_cursor_and_limit(setup, client_for):
    client = client_for(setup[1])

    pages, params = [], {"limit": 4}
    while True:
        page = client.get("/api/v1/channels", params).json()
        pages.append([c["name"] for c in page["results"]])
        if not page["next_cursor"]:
            break
        params = {"limit": 4, "cursor": page["next_cursor"]}

    assert pages == [["bob-only", "design", "dev-backend", "dev-frontend"], ["general", "random"]]


def test_list_channels_uses_a_constant_number_of_queries(make_user, make_channel, client_for, count_queries):
    alice = make_user("alice")
    client = client_for(alice)
    make_channel(alice, "one")
    with count_queries() as one_channel:
        client.get("/api/v1/channels")

    for n in range(10):
        make_channel(alice, f"more-{n}")
    with count_queries() as more:
        assert len(client.get("/api/v1/channels").json()["results"]) == 11
    assert len(more) == len(one_channel) <= 3, more  # the token (2 with its user), the page
