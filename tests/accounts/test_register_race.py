import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("contested", ["username", "email"])
def test_concurrent_registrations_of_one_name_create_one_user_and_409_the_rest(contested):
    barrier = threading.Barrier(12)
    statuses: list[int] = []
    codes: list[str] = []

    def register(n):
        body = {
            "email": "same@example.com" if contested == "email" else f"u{n}@example.com",
            "username": "same" if contested == "username" else f"u{n}",
            "password": "correct horse battery staple",
        }
        try:
            barrier.wait()
            response = APIClient().post("/api/v1/auth/register", body, format="json")
            statuses.append(response.status_code)
            if response.status_code == 409:
                codes.append(response.json()["error"]["code"])
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] + [409] * 11
    assert set(codes) == {f"{contested}_taken"}
    assert User.objects.count() == 1
