"""Helpers of the messaging tests."""

import threading

from django.db import connection

from messaging.documents import Conversation, ConversationKind


class Where:
    def __init__(self, url, kwargs, pk, kind):
        self.url = url
        self.kwargs = kwargs
        self.pk = str(pk)
        self.kind = kind
        self.api_field = "channel_id" if kind == "channel" else "conversation_id"
        self.conversation = Conversation(ConversationKind(kind), self.pk)

    def __repr__(self):
        return self.kind


def run_in_threads(count: int, target, *args) -> list:
    """Run target(index, *args) in `count` threads started together; return their
    results in index order (re-raising the first exception). Each thread closes its
    own database connection at the end."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    failures: list[BaseException] = []

    def run(index):
        try:
            barrier.wait(timeout=30)
            results[index] = target(index, *args)
        except BaseException as exc:  # reported in the main thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if failures:
        raise failures[0]
    return results


def in_thread(pool, func, /, **kwargs):
    """Submit func(**kwargs) to `pool`; the worker closes its database connection after."""

    def run():
        try:
            return func(**kwargs)
        finally:
            connection.close()

    return pool.submit(run)


def _plan_stages(plan) -> list[dict]:
    stages = []
    while isinstance(plan, dict):
        stages.append(plan)
        plan = plan.get("inputStage") or (plan.get("inputStages") or [None])[0]
    return stages


def assert_index_used(repo, explain: dict, index_name: str) -> None:
    """The explained find scans `index_name` and sorts nothing in memory; on FerretDB the
    test xfails with FerretDB's own explain summary (it uses no index for these)."""
    import pytest

    ferretdb = repo.server_info().get("ferretdbVersion") or explain.get("serverInfo", {}).get("ferretdbVersion")
    planner = explain.get("queryPlanner", {})
    if ferretdb:
        summary = {key: explain.get(key) for key in ("filterPushdown", "sortPushdown", "limitPushdown")}
        summary["plan"] = planner.get("Plan") or planner
        pytest.xfail(f"FerretDB {ferretdb} does not use indexes here: {summary}")
    winning = planner["winningPlan"]
    stages = _plan_stages(winning.get("queryPlan", winning))  # MongoDB 7+ (SBE) nests it
    index_scans = [stage for stage in stages if stage.get("stage") == "IXSCAN"]
    assert index_scans, f"no IXSCAN in {stages}"
    assert index_scans[0]["indexName"] == index_name
    assert not any(stage.get("stage") == "SORT" for stage in stages), "sorted in memory"
