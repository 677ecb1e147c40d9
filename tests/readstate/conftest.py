from tests.messaging.conftest import channel, dm, make_channel, make_dm, where  # noqa: F401 (shared fixtures)
