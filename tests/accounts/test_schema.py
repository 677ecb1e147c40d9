"""The OpenAPI schema documents the accounts, channels and DM endpoints and their error envelope."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

MY_PREFIXES = ("/api/v1/auth/", "/api/v1/users", "/api/v1/channels", "/api/v1/dms")
OTHER_APPS = ("/messages",)
PUBLIC = {"/api/v1/auth/register", "/api/v1/auth/login"}


@pytest.fixture(scope="module")
def schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    return schema


def my_operations(schema):
    for path, item in schema["paths"].items():
        if path.startswith(MY_PREFIXES) and not any(part in path for part in OTHER_APPS):
            for method, operation in item.items():
                yield path, method, operation


def test_every_endpoint_of_the_contract_is_in_the_schema(schema):
    found = {(path, method) for path, method, _ in my_operations(schema)}

    assert found == {
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/logout-all", "post"),
        ("/api/v1/auth/sessions", "get"),
        ("/api/v1/auth/sessions/{session_id}", "delete"),
        ("/api/v1/users", "get"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/users/me", "patch"),
        ("/api/v1/users/{user_id}", "get"),
        ("/api/v1/users/{user_id}", "patch"),
        ("/api/v1/users/{user_id}/deactivate", "post"),
        ("/api/v1/users/{user_id}/reactivate", "post"),
        ("/api/v1/auth/switch", "post"),
        ("/api/v1/channels", "get"),
        ("/api/v1/channels", "post"),
        ("/api/v1/channels/{channel_id}", "get"),
        ("/api/v1/channels/{channel_id}", "patch"),
        ("/api/v1/channels/{channel_id}/join", "post"),
        ("/api/v1/channels/{channel_id}/leave", "post"),
        ("/api/v1/channels/{channel_id}/members", "get"),
        # issue 16: channel management
        ("/api/v1/channels/{channel_id}", "delete"),
        ("/api/v1/channels/{channel_id}/members", "post"),
        ("/api/v1/channels/{channel_id}/members/{user_id}", "delete"),
        ("/api/v1/channels/{channel_id}/members/{user_id}", "patch"),
        ("/api/v1/channels/{channel_id}/archive", "post"),
        ("/api/v1/channels/{channel_id}/unarchive", "post"),
        ("/api/v1/dms", "get"),
        ("/api/v1/dms", "post"),
        ("/api/v1/dms/{conversation_id}", "get"),
        ("/api/v1/channels/{channel_id}/pins", "get"),  # issue 17
        ("/api/v1/dms/{conversation_id}/pins", "get"),  # issue 17
        ("/api/v1/channels/{channel_id}/read", "put"),  # issue 18
        ("/api/v1/channels/{channel_id}/preferences", "put"),  # issue 18
        ("/api/v1/dms/{conversation_id}/read", "put"),  # issue 18
        ("/api/v1/dms/{conversation_id}/preferences", "put"),  # issue 18
    }


def test_every_error_response_is_the_error_envelope(schema):
    for path, method, operation in my_operations(schema):
        errors = {code: response for code, response in operation["responses"].items() if int(code) >= 400}
        assert errors, (path, method)
        for code, response in errors.items():
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorEnvelope", (path, method, code)


def test_authenticated_endpoints_document_401_and_public_ones_need_no_token(schema):
    for path, method, operation in my_operations(schema):
        if path in PUBLIC:
            assert operation["security"] == [{}]
            assert "429" in operation["responses"]
        else:
            assert "401" in operation["responses"], (path, method)


def test_error_envelope_component_has_code_message_and_fields(schema):
    detail = schema["components"]["schemas"]["ErrorDetail"]

    assert set(detail["properties"]) == {"code", "message", "fields", "retry_after"}
    assert set(detail["required"]) == {"code", "message"}


def test_user_email_is_optional_in_the_user_component(schema):
    user = schema["components"]["schemas"]["User"]

    assert set(user["properties"]) == {"id", "email", "username", "display_name", "created_at", "role", "is_active"}
    assert "email" not in user["required"]
