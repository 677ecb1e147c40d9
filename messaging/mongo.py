"""The process's one MongoClient. Only the messaging app talks to MongoDB."""

import threading

from django.conf import settings
from pymongo import MongoClient
from pymongo.database import Database

_lock = threading.Lock()
_client: MongoClient | None = None


def get_client() -> MongoClient:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                timeout = settings.MONGO_TIMEOUT_MS
                _client = MongoClient(
                    settings.MONGO_URL,
                    tz_aware=True,
                    serverSelectionTimeoutMS=timeout,
                    connectTimeoutMS=timeout,
                    socketTimeoutMS=timeout * 2,
                    maxPoolSize=100,
                    appname="slackclone",
                )
    return _client


def get_db() -> Database:
    return get_client()[settings.MONGO_DB]


def ping() -> None:
    get_client().admin.command("ping")
