"""Test settings: the real local services, separate databases.

SLACKCLONE_TEST_WORKER (0-9) gives parallel runs their own PostgreSQL test
database, MongoDB database and Redis database.
"""

import os

from slackclone.settings import *  # noqa: F403
from slackclone.settings import CHANNEL_LAYER_HOST, CHANNEL_LAYERS, DATABASES, REDIS_URL, REST_FRAMEWORK, STORAGES

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

# Each worker keeps its uploads in a directory of its own (tests/files clean it).
FILES_ROOT = str(BASE_DIR / ".data" / f"test-files-{WORKER}")  # noqa: F405
STORAGES = {**STORAGES, "default": {**STORAGES["default"]}}
if STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
    STORAGES["default"]["OPTIONS"] = {"location": FILES_ROOT}
PRESENCE_GRACE_SECONDS = 1

# Static files straight from the apps (no collectstatic before the suite), with plain
# names: the manifest storage of production is tested on its own
# (tests/slackclone/test_static_files.py runs collectstatic into a temporary directory).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
