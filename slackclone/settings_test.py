"""Test settings: the real local services, separate databases.

SLACKCLONE_TEST_WORKER (0-9) gives parallel runs their own PostgreSQL test
database, MongoDB database and Redis database.
"""

import os

from slackclone.settings import *  # noqa: F403
from slackclone.settings import CHANNEL_LAYER_HOST, CHANNEL_LAYERS, DATABASES, REDIS_URL, REST_FRAMEWORK

WORKER = int(os.environ.get("SLACKCLONE_TEST_WORKER", "0"))

DATABASES["default"]["TEST"] = {"NAME": f"test_slackclone_{WORKER}"}
MONGO_DB = f"slackclone_test_{WORKER}"

_redis_base = REDIS_URL.rsplit("/", 1)[0]
REDIS_URL = f"{_redis_base}/{1 + WORKER}"
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [{**CHANNEL_LAYER_HOST, "address": REDIS_URL}]
CACHES = {
    "default": {
        "BACKEND": "slackclone.cache.SharedPoolRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "slackclone-test-cache",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    },
}

# Argon2 is the production hasher (tests/accounts check it); tests log in hundreds
# of users, so they hash with a fast one.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Throttling is exercised by its own tests, which lower these rates.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"auth": "100000/min", "write": "100000/min"}

MONGO_TIMEOUT_MS = 1000
PRESENCE_GRACE_SECONDS = 1
