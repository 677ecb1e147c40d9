"""Two server processes sharing PROMETHEUS_MULTIPROC_DIR: /metrics of either one
answers for both (prometheus-client's multiprocess mode)."""

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import e2e_logs, extra_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def health_requests(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "slackclone_http_request_duration_seconds_count"
                and sample.labels.get("route") == "api/v1/health"
                and sample.labels.get("status") == "200"
            ):
                return sample.value
    return 0.0


def test_either_process_reports_the_requests_of_both(extra_server, tmp_path):  # noqa: F811
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "METRICS_ALLOWED_IPS": "127.0.0.1"}
    a, b = extra_server(**env), extra_server(**env)  # each already answered its own health checks
    before = health_requests(httpx.get(f"{b.http}/metrics").text)

    for _ in range(5):
        assert httpx.get(f"{a.http}/api/v1/health").status_code == 200

    assert health_requests(httpx.get(f"{b.http}/metrics").text) == before + 5
    assert health_requests(httpx.get(f"{a.http}/metrics").text) == before + 5
