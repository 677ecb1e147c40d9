"""Fixtures shared by the whole suite. Every store is real: PostgreSQL, Redis and the
MongoDB-compatible server started by scripts/services.sh (see Makefile `test`)."""

import contextlib

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from tests.helpers import capture_broadcasts  # noqa: F401  (re-exported fixture helper)


@pytest.fixture(scope="session", autouse=True)
def _mongo_indexes(django_db_blocker):
    from messaging.mongo import get_client
    from messaging.repositories import ensure_indexes

    get_client().drop_database(settings.MONGO_DB)
    ensure_indexes()
    yield
    get_client().drop_database(settings.MONGO_DB)


@pytest.fixture(autouse=True)
def _clean_mongo():
    """Each test starts with empty message collections (indexes kept)."""
    from messaging.mongo import get_db

    db = get_db()
    for name in db.list_collection_names():
        db[name].delete_many({})


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis database (channel layer, presence, throttles)."""
    from slackclone.redis_client import get_redis

    get_redis().flushdb()


@pytest.fixture(autouse=True)
def _clean_files_root():
    """Each test starts with an empty local file storage (uploads of a rolled-back test
    would otherwise stay behind as objects without metadata for check_consistency)."""
    import shutil

    shutil.rmtree(settings.FILES_ROOT, ignore_errors=True)


def join_workspace(user, workspace=None, role: str = "member"):
    """Make `user` a member of `workspace` (default: the deployment's default workspace),
    as registering there would; returns the membership."""
    from accounts.models import Workspace, WorkspaceMember, default_workspace_id

    workspace_id = workspace.pk if isinstance(workspace, Workspace) else (workspace or default_workspace_id())
    membership, _ = WorkspaceMember.objects.get_or_create(workspace_id=workspace_id, user=user, defaults={"role": role})
    return membership


@pytest.fixture
def make_user(db):
    """make_user(username=None, workspace=None, role="member", **fields): a user who is a
    member of `workspace` (default: the default workspace, so v1 tests see one workspace)."""
    from accounts.models import User

    counter = iter(range(1, 1_000_000))

    def make(username: str | None = None, workspace=None, role: str = "member", **extra):
        n = next(counter)
        username = username or f"user{n}"
        extra.setdefault("email", f"{username}@example.com")
        extra.setdefault("display_name", username.title())
        password = extra.pop("password", "correct horse battery staple")
        user = User.objects.create_user(username, extra.pop("email"), password, **extra)
        join_workspace(user, workspace, role=role)
        return user

    return make


def token_for(user, workspace=None) -> str:
    """A token of `user` acting in `workspace` (default: the default workspace)."""
    from accounts.services import token_create

    return token_create(user=user, membership=join_workspace(user, workspace))


@pytest.fixture
def client_for():
    """client_for(user) -> an APIClient that sends `Authorization: Bearer <token>`."""

    def make(user=None, workspace=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, workspace)}")
        return client

    return make


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def staff(make_user):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff):
    """A Django test client logged in to the admin as staff."""
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def count_queries():
    """`with count_queries() as sqls:` records every SQL statement run on this thread's connection.

    (CaptureQueriesContext miscounts around test-client requests: each request resets the query log.)
    """
    return _count_queries


@contextlib.contextmanager
def _count_queries():
    sqls: list[str] = []

    def record(execute, sql, params, many, context):
        sqls.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield sqls


@pytest.fixture
def server_side_binding():
    """The connections bind parameters on the server (DATABASES OPTIONS
    `server_side_binding`: Django's ServerBindingCursor), as a deployment may set."""

    def reconnect():
        connection.close()
        connection.close_pool()

    reconnect()
    connection.settings_dict["OPTIONS"]["server_side_binding"] = True
    try:
        yield
    finally:
        reconnect()
        connection.settings_dict["OPTIONS"].pop("server_side_binding")
