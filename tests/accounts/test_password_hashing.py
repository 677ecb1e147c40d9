import importlib

from django.contrib.auth.hashers import check_password, make_password
from django.test import override_settings


def production_hashers():
    return importlib.import_module("slackclone.settings").PASSWORD_HASHERS


def test_production_hashes_passwords_with_argon2_first():
    assert production_hashers()[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_the_production_hasher_list_produces_argon2_hashes():
    with override_settings(PASSWORD_HASHERS=production_hashers()):
        encoded = make_password("correct horse battery staple")

        assert encoded.startswith("argon2$")
        assert check_password("correct horse battery staple", encoded)
