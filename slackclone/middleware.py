from django.http import JsonResponse

from slackclone import request_id
from slackclone.api.exceptions import envelope
from slackclone.http_limits import body_limit
from slackclone.request_id import request_id_from

# The envelope's code for an error status whose body was not ours (see ApiErrorEnvelopeMiddleware).
_STATUS_CODES = {
    400: ("bad_request", "Bad request."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "Forbidden."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    406: ("not_acceptable", "Not acceptable."),
    413: ("payload_too_large", "The request body is too large."),
    414: ("uri_too_long", "The request URL is too long."),
    415: ("unsupported_media_type", "Unsupported media type."),
    429: ("throttled", "Request was throttled."),
    431: ("headers_too_large", "The request's header fields are too large."),
    503: ("store_unavailable", "A store is unavailable; try again shortly."),
}
# Headers of the original answer that a client still needs.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class ApiErrorEnvelopeMiddleware:
    """The outermost middleware: every error answer under /api/ is the JSON envelope.

    Views answer with the envelope already (slackclone.api.exceptions). What they do
    not cover is produced around them, and in DEBUG as Django's HTML pages: an unknown
    path or a malformed id in a path (the URL does not resolve: DEBUG's technical 404),
    a wrong trailing slash, DisallowedHost (400), a CSRF refusal (403), an exception in
    a middleware (DEBUG's technical 500). Django turns each into a response before it
    reaches this middleware; an error answer that is not JSON is replaced here by the
    envelope for its status, keeping `Allow`, `Retry-After` and `WWW-Authenticate`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            code, message = _STATUS_CODES.get(
                response.status_code,
                ("server_error", "Internal server error.")
                if response.status_code >= 500
                else ("bad_request", "Bad request."),
            )
            replaced = JsonResponse(envelope(code, message), status=response.status_code)
            for header in _KEPT_HEADERS:
                if header in response:
                    replaced[header] = response[header]
            if hasattr(response, "close"):
                response.close()
            return replaced
        return response


class BodySizeLimitMiddleware:
    """Refuse a declared-too-large body with 413 before anything reads it.

    Bodies without Content-Length (chunked) are still capped when read, by
    DATA_UPLOAD_MAX_MEMORY_SIZE, which the API exception handler turns into 413.
    Uploads (POST /api/v1/files) have their own limit (http_limits.body_limit).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(envelope("bad_request", "Invalid Content-Length."), status=400)
        if length > body_limit(request.method or "GET", request.path):
            return JsonResponse(envelope("payload_too_large", "The request body is too large."), status=413)
        return self.get_response(request)


class RequestIdMiddleware:
    """Each request gets an id (the client's X-Request-ID if valid, else a new one):
    in every log record made while serving it, and in the `X-Request-ID` response header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        token = request_id.current.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id.current.reset(token)
        response[request_id.HEADER] = request.request_id
        return response
