"""OpenAPI pieces shared by every app: the error envelope, defined once.

Views document their error answers with `error_responses(400, 404, ...)`, which all
point at the one `ErrorEnvelope` component (see `slackclone.api.exceptions`).
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable snake_case code, e.g. `username_taken`.")
    message = serializers.CharField(help_text="Human-readable text.")

    def get_fields(self):
        # `fields` is a Serializer property, so the field is added here instead of as an attribute.
        fields = super().get_fields()
        fields["retry_after"] = serializers.IntegerField(
            required=False,
            help_text="Only for 429 (`throttled`, `conversation_busy`): seconds to wait, as `Retry-After`.",
        )
        fields["fields"] = serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="Only for validation errors: the texts for each invalid input field.",
        )
        return fields


class ErrorEnvelopeSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()

    class Meta:
        ref_name = "ErrorEnvelope"


ERROR_DESCRIPTIONS = {
    400: "Invalid input (`fields` names the invalid fields), or a body that is not JSON (`malformed_json`; "
    "`malformed_multipart` for a form that cannot be read, POST /files).",
    401: "Missing or invalid token (`not_authenticated`, `authentication_failed`) or bad credentials.",
    403: "Authenticated but not allowed.",
    404: "Not found, or not visible to you.",
    405: "Method not allowed.",
    409: "Conflicts with an existing object (a taken name, email or username).",
    413: "The request body is too large (`payload_too_large`).",
    429: "Throttled (`throttled`): over the caller's write budget (`THROTTLE_WRITE`, shared with WebSocket "
    "`message.send`); the `Retry-After` header and `error.retry_after` give the seconds to wait.",
    503: "A store is unavailable (`store_unavailable`); the `Retry-After` header gives the seconds to wait.",
}


# `?cursor=` and `?limit=` of a keyset-paged list (contract: "Conventions"): one
# description for every list that pages as `{"results", "next_cursor"}`.
PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, description="A `next_cursor` from the previous page (else 400)."),
    OpenApiParameter("limit", int, description="Page size, 1-200 (default 50; else 400)."),
]


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """`{status: OpenApiResponse(ErrorEnvelope)}` for extend_schema(responses=...)."""
    return {code: OpenApiResponse(ErrorEnvelopeSerializer, description=ERROR_DESCRIPTIONS[code]) for code in codes}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Knox tokens, described as what clients send: `Authorization: Bearer <token>`."""

    target_class = "knox.auth.TokenAuthentication"
    match_subclasses = True  # accounts.auth.WorkspaceTokenAuthentication
    name = "bearerAuth"
    priority = 1  # over drf-spectacular's own knox extension (an apiKey scheme)

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from /auth/register, /auth/login or /auth/switch; it acts in one workspace.",
        }
