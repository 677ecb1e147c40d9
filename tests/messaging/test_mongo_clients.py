"""The request client and the long-operations client of messaging.mongo."""

from messaging import mongo


def test_requests_use_the_short_budget_and_commands_the_long_one(settings):
    settings.MONGO_OPERATIONS_TIMEOUT_MS = 123_000

    outside = mongo.get_db()
    with mongo.long_operations():
        inside = mongo.get_db()
    after = mongo.get_db()

    assert outside.client is mongo.get_client() is after.client
    assert inside.client is mongo.get_operations_client()
    assert inside.client.options.pool_options.socket_timeout == 123
    assert outside.client.options.pool_options.socket_timeout == settings.MONGO_TIMEOUT_MS * 2 / 1000
    assert inside.client.options.server_selection_timeout == settings.MONGO_TIMEOUT_MS / 1000
    assert inside.name == outside.name == settings.MONGO_DB
