"""The PromQL check behind `query_metrics`: which metrics a query reads, and the organisation matcher."""

from __future__ import annotations

import pytest

from shipyard.mcp.promql import QueryRefused, check_and_scope, metric_names

pytestmark = pytest.mark.database_independent

LABELLED = frozenset({"shipyard_a", "shipyard_b_total", "shipyard_h_bucket"})


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("shipyard_a", {"shipyard_a"}),
        ('sum by (route, status) (rate(shipyard_b_total{route="/x", status=~"5.."}[5m]))', {"shipyard_b_total"}),
        ("histogram_quantile(0.95, sum by (le) (rate(shipyard_h_bucket[5m]))) offset 1h", {"shipyard_h_bucket"}),
        ("shipyard_a / on (job) group_left (version) shipyard_build_info", {"shipyard_a", "shipyard_build_info"}),
        ('label_replace(shipyard_a, "dst", "up", "src", "(.*)") > bool 1', {"shipyard_a"}),
        ("sum(shipyard_a) without (host) or vector(0)", {"shipyard_a"}),
        ("max_over_time(shipyard_a[1h:5m])", {"shipyard_a"}),
    ],
)
def test_it_finds_the_metrics_a_query_selects(query: str, names: set[str]) -> None:
    assert metric_names(query) == names


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        ("up", "not up"),
        ('rate(node_cpu_seconds_total{mode="idle"}[5m])', "not node_cpu_seconds_total"),
        ("shipyard_a + http_request_duration_seconds_count", "not http_request_duration_seconds_count"),
        ('{job="shipyard-web"}', "names no metric"),
        ('{__name__="shipyard_a"}', "__name__"),
        ('{__name__=~"node_.*"}', "__name__"),
        ("vector(1)", "selects no metric"),
    ],
)
def test_it_refuses_other_metrics_and_selectors_it_cannot_name(query: str, refusal: str) -> None:
    with pytest.raises(QueryRefused, match=refusal):
        check_and_scope(query, None, LABELLED)


def test_an_operator_query_is_sent_unchanged() -> None:
    query = "sum by (provider) (rate(shipyard_sign_ins_total[5m]))"
    assert check_and_scope(query, None, frozenset()) == query


def test_an_organisation_matcher_is_added_to_every_selector() -> None:
    scoped = check_and_scope(
        'sum(rate(shipyard_b_total{route="/x"}[5m])) / sum(rate(shipyard_b_total[5m])) + shipyard_a{}',
        "org_1",
        LABELLED,
    )
    assert scoped == (
        'sum(rate(shipyard_b_total{route="/x", organization_id="org_1"}[5m]))'
        ' / sum(rate(shipyard_b_total{organization_id="org_1"}[5m])) + shipyard_a{organization_id="org_1"}'
    )


def test_an_organisation_cannot_read_deployment_wide_metrics_or_pick_another_organisation() -> None:
    with pytest.raises(QueryRefused, match="shipyard_sign_ins_total cover the whole deployment"):
        check_and_scope("shipyard_sign_ins_total + shipyard_a", "org_1", LABELLED)
    with pytest.raises(QueryRefused, match="organisation is applied"):
        check_and_scope('shipyard_a{organization_id="org_2"}', "org_1", LABELLED)
    with pytest.raises(QueryRefused, match="organisation is applied"):
        check_and_scope('shipyard_a{organization_id=~".+"}', "org_1", LABELLED)
