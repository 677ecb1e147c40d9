"""One place that turns every error into the API's envelope."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from slackclone import errors, metrics
from slackclone.api.throttling import retry_after_seconds

logger = logging.getLogger(__name__)

_DRF_CODES = {
    drf.NotAuthenticated: "not_authenticated",
    drf.AuthenticationFailed: "authentication_failed",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.ParseError: "malformed_json",
    drf.Throttled: "throttled",
    drf.ValidationError: "invalid",
}


def envelope(code: str, message: str, fields: dict | None = None) -> dict:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's nested error detail -> {"field": ["text", ...]}, nested keys dotted."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            for sub, texts in _flatten(value).items():
                out[f"{key}.{sub}" if sub else str(key)] = texts
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {"": [str(item) for item in detail]}
        out = {}
        for index, item in enumerate(detail):
            for sub, texts in _flatten(item).items():
                out[f"{index}.{sub}" if sub else str(index)] = texts
        return out
    return {"": [str(detail)]}


def response_for_domain_error(exc: errors.DomainError) -> Response:
    response = Response({"error": exc.as_dict()}, status=exc.status)
    if isinstance(exc, errors.StoreUnavailable):
        metrics.STORE_UNAVAILABLE.labels(exc.store).inc()
        response["Retry-After"] = str(settings.STORE_RETRY_AFTER_SECONDS)
    elif isinstance(exc, errors.Throttled | errors.Busy):
        response["Retry-After"] = str(exc.retry_after)
    return response


def exception_handler(exc, context):
    if isinstance(exc, errors.DomainError):
        return response_for_domain_error(exc)
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("postgres unavailable: %s", exc.__class__.__name__)
        return response_for_domain_error(errors.StoreUnavailable("postgres"))
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
        return None
    if isinstance(exc, RequestDataTooBig):
        return Response(envelope("payload_too_large", "The request body is too large."), status=413)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if not isinstance(exc, drf.APIException):
        return None  # a bug: Django answers 500 (with our JSON handler500)

    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None) or exc.default_code
    if isinstance(exc, drf.ParseError) and _is_multipart(context):
        code = "malformed_multipart"  # POST /files: the form, not JSON, could not be read
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, drf.Throttled) and exc.wait is not None:
        # The same answer as a throttled WebSocket send (errors.Throttled): header and body.
        return response_for_domain_error(errors.Throttled(retry_after_seconds(exc.wait)))

    if isinstance(exc, drf.ValidationError):
        fields = _flatten(exc.detail)
        non_field = fields.pop("", None) or fields.pop("non_field_errors", None)
        message = non_field[0] if non_field else "The request is not valid."
        body = envelope(code, message, fields or None)
    else:
        body = envelope(code, str(exc.detail))
    # DRF answers 401 only when it can send WWW-Authenticate; unauthenticated is 401 here.
    status = 401 if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed) else exc.status_code
    return Response(body, status=status, headers=headers)


def _is_multipart(context) -> bool:
    request = (context or {}).get("request")
    return bool(request is not None and (request.content_type or "").startswith("multipart/"))


# --- Errors raised outside DRF views (URL resolution, middleware) -------------


def json_404(request, exception=None):
    return JsonResponse(envelope("not_found", "Not found."), status=404)


def json_500(request):
    return JsonResponse(envelope("server_error", "Internal server error."), status=500)


def json_400(request, exception=None):
    return JsonResponse(envelope("bad_request", "Bad request."), status=400)


def json_403(request, exception=None):
    return JsonResponse(envelope("permission_denied", "Forbidden."), status=403)
