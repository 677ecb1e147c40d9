from django.conf import settings
from django.http import JsonResponse

from slackclone import request_id
from slackclone.api.exceptions import envelope
from slackclone.request_id import request_id_from


class BodySizeLimitMiddleware:
    """Refuse a declared-too-large body with 413 before anything reads it.

    Bodies without Content-Length (chunked) are still capped when read, by
    DATA_UPLOAD_MAX_MEMORY_SIZE, which the API exception handler turns into 413.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(envelope("bad_request", "Invalid Content-Length."), status=400)
        if length > settings.MAX_REQUEST_BODY_BYTES:
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
