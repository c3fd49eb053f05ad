"""Campaigns over the admin API (the handler with fakes): drafts pin template versions, edits are
checked and conditional, and the lifecycle moves only the way it may."""

from __future__ import annotations

from typing import Any

import pytest

from tagmail import bootstrap
from tagmail.domain.campaigns import HOLDOUT, CampaignStatus
from tagmail.domain.stats import Counter
from tagmail.services.campaign_results import CampaignResultsService
from tagmail.services.campaigns import CampaignAdmin
from tests.unit.fakes import FakeCampaignEntries, FakeCampaigns
from tests.unit.test_admin_api import Admin, body

CART_TRIGGER = {
    "entry_event": "cart_add",
    "event_conditions": [{"field": "price", "op": "gte", "value": 1000}],
    "user_conditions": [{"field": "plan", "op": "in", "value": ["gold", "silver"]}],
    "exit_events": ["purchase"],
    "exit_key_property": "cart_id",
    "timing": {"kind": "local_time", "days": 2, "at": "10:00", "quiet_hours": {"start": "21:00", "end": "08:00"}},
    "frequency_cap": {"period_seconds": 604800, "project_daily_limit": 3},
}


class CampaignApi(Admin):
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(monkeypatch)
        self.campaigns = FakeCampaigns()
        admin = CampaignAdmin(campaigns=self.campaigns, templates=self.templates, clock=self.clock)
        monkeypatch.setattr(bootstrap, "campaign_admin", lambda: admin)
        self.figures = FakeCampaignEntries(self.stats)
        results = CampaignResultsService(campaigns=self.campaigns, figures=self.figures)
        monkeypatch.setattr(bootstrap, "campaign_results", lambda: results)

    def template(self, name: str = "cart") -> str:
        created = self.call(
            "POST",
            "/templates",
            {"name": name, "default_locale": "ja", "contents": {"ja": {"subject": "カート", "html": "<p>x</p>"}}},
        )
        assert created["statusCode"] == 201, created["body"]
        template_id: str = body(created)["id"]
        return template_id

    def new_version(self, template_id: str) -> None:
        added = self.call(
            "POST",
            f"/templates/{template_id}/versions",
            {"default_locale": "ja", "contents": {"ja": {"subject": "カート v2", "html": "<p>y</p>"}}},
        )
        assert added["statusCode"] == 201, added["body"]

    def draft(self, **fields: Any) -> dict[str, Any]:
        template_id = fields.pop("template_id", None) or self.template()
        payload = {
            "name": "Cart abandonment",
            "variants": [
                {"name": "A", "template_id": template_id},
                {"name": "B", "template_id": template_id, "weight": 3},
            ],
            "holdout": 0.1,
            "trigger": CART_TRIGGER,
            **fields,
        }
        response = self.call("POST", "/campaigns", payload)
        assert response["statusCode"] == 201, response["body"]
        created: dict[str, Any] = body(response)
        return created


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> CampaignApi:
    return CampaignApi(monkeypatch)


def test_a_drafted_campaign_pins_the_latest_template_version_and_reads_back(api: CampaignApi) -> None:
    template_id = api.template()
    api.new_version(template_id)

    created = api.draft(template_id=template_id)
    read = body(api.call("GET", f"/campaigns/{created['id']}"))
    listed = body(api.call("GET", "/campaigns"))

    assert created["status"] == "draft"
    assert [(v["name"], v["template_version"], v["weight"]) for v in created["variants"]] == [("A", 2, 1), ("B", 2, 3)]
    assert read == created
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert read["trigger"] == {**CART_TRIGGER, "timing": {**CART_TRIGGER["timing"], "delay_seconds": None}}
    assert read["conversion"] == {"event": "purchase", "window_seconds": 604800, "revenue_property": "revenue"}


def test_a_new_template_version_does_not_move_a_pinned_campaign(api: CampaignApi) -> None:
    template_id = api.template()
    created = api.draft(template_id=template_id)

    api.new_version(template_id)
    renamed = body(api.call("PATCH", f"/campaigns/{created['id']}", {"name": "Cart reminder"}))

    assert renamed["name"] == "Cart reminder"
    assert {v["template_version"] for v in renamed["variants"]} == {1}


@pytest.mark.parametrize(
    ("variant", "field"),
    [
        ({"name": "A", "template_id": "t-missing"}, "variants[0].template_id"),
        ({"name": "A", "template_id": "TEMPLATE", "template_version": 9}, "variants[0].template_version"),
        ({"name": "A", "template_id": "TEMPLATE", "weight": 0}, "variants.0.weight"),
        ({"name": "holdout", "template_id": "TEMPLATE"}, "variants[0]"),
    ],
    ids=["unknown-template", "unknown-version", "zero-weight", "reserved-name"],
)
def test_a_variant_must_name_an_existing_template_version_with_a_positive_weight(
    api: CampaignApi, variant: dict[str, Any], field: str
) -> None:
    template_id = api.template()
    variant = {key: template_id if value == "TEMPLATE" else value for key, value in variant.items()}

    response = api.call("POST", "/campaigns", {"name": "x", "variants": [variant]})

    assert response["statusCode"] == 400, response["body"]
    assert body(response)["field"] == field
    assert api.campaigns.items == {}


@pytest.mark.parametrize(
    "trigger",
    [
        {**CART_TRIGGER, "timing": {"kind": "delay"}},
        {**CART_TRIGGER, "timing": {"kind": "delay", "delay_seconds": 91 * 86400}},
        {**CART_TRIGGER, "timing": {"kind": "local_time", "days": 2, "at": "25:00"}},
        {**CART_TRIGGER, "exit_events": ["cart_add"]},
        {**CART_TRIGGER, "event_conditions": [{"field": "price", "op": "gt", "value": "cheap"}]},
        {**CART_TRIGGER, "event_conditions": [{"field": "price", "op": "like", "value": 1}]},
    ],
    ids=["delay-without-seconds", "delay-over-90-days", "bad-time", "entry-is-exit", "text-compared", "unknown-op"],
)
def test_an_inconsistent_trigger_is_a_400(api: CampaignApi, trigger: dict[str, Any]) -> None:
    response = api.call("POST", "/campaigns", {"name": "x", "trigger": trigger})

    assert response["statusCode"] == 400, response["body"]
    assert api.campaigns.items == {}


def test_the_lifecycle_over_the_api(api: CampaignApi) -> None:
    campaign_id = api.draft()["id"]

    steps = [
        ("pause", 409, "draft"),
        ("activate", 200, "active"),
        ("activate", 409, "active"),
        ("pause", 200, "paused"),
        ("resume", 200, "active"),
        ("archive", 200, "archived"),
        ("resume", 409, "archived"),
    ]
    for action, status, after in steps:
        response = api.call("POST", f"/campaigns/{campaign_id}/{action}")
        assert response["statusCode"] == status, (action, response["body"])
        assert body(api.call("GET", f"/campaigns/{campaign_id}"))["status"] == after
    stored = api.campaigns.items[(api.project.project_id, campaign_id)]
    assert stored.epoch == 2, "the pause and the archive each cancelled what was pending"


def test_a_campaign_without_a_trigger_cannot_be_activated(api: CampaignApi) -> None:
    campaign_id = api.draft(trigger=None)["id"]

    response = api.call("POST", f"/campaigns/{campaign_id}/activate")

    assert response["statusCode"] == 400
    assert body(response)["field"] == "trigger"


def test_a_running_campaign_cannot_lose_what_it_runs_on(api: CampaignApi) -> None:
    campaign_id = api.draft()["id"]
    api.call("POST", f"/campaigns/{campaign_id}/activate")

    response = api.call("PATCH", f"/campaigns/{campaign_id}", {"variants": []})

    assert response["statusCode"] == 400
    assert api.campaigns.items[(api.project.project_id, campaign_id)].status is CampaignStatus.ACTIVE


def test_an_edit_over_someone_elses_is_a_409(api: CampaignApi) -> None:
    created = api.draft()
    first = api.call("PATCH", f"/campaigns/{created['id']}", {"holdout": 0.2, "revision": created["revision"]})

    second = api.call("PATCH", f"/campaigns/{created['id']}", {"holdout": 0.3, "revision": created["revision"]})

    assert first["statusCode"] == 200
    assert second["statusCode"] == 409
    assert body(api.call("GET", f"/campaigns/{created['id']}"))["holdout"] == 0.2


def test_a_patch_replaces_only_the_parts_given(api: CampaignApi) -> None:
    created = api.draft()
    new_trigger = {"entry_event": "signup", "timing": {"kind": "delay", "delay_seconds": 3 * 86400}}

    patched = body(api.call("PATCH", f"/campaigns/{created['id']}", {"trigger": new_trigger, "default_locale": "en"}))

    assert patched["trigger"]["entry_event"] == "signup"
    assert patched["trigger"]["timing"]["delay_seconds"] == 3 * 86400
    assert patched["trigger"]["frequency_cap"]["period_seconds"] == 86400, "a replaced part takes its defaults"
    assert patched["default_locale"] == "en"
    assert (patched["name"], patched["holdout"], patched["variants"]) == (
        created["name"],
        created["holdout"],
        created["variants"],
    )
    assert api.call("PATCH", f"/campaigns/{created['id']}", {"name": None})["statusCode"] == 400


def test_an_archived_campaign_cannot_change(api: CampaignApi) -> None:
    campaign_id = api.draft()["id"]
    api.call("POST", f"/campaigns/{campaign_id}/archive")

    assert api.call("PATCH", f"/campaigns/{campaign_id}", {"name": "again"})["statusCode"] == 409


def test_another_projects_campaign_is_not_found(api: CampaignApi) -> None:
    campaign_id = api.draft()["id"]

    assert api.call("GET", f"/campaigns/{campaign_id}", key=api.other.admin_key)["statusCode"] == 404
    assert api.call("POST", f"/campaigns/{campaign_id}/pause", key=api.other.admin_key)["statusCode"] == 404
    assert body(api.call("GET", "/campaigns", key=api.other.admin_key)) == {"items": []}


def test_results_show_each_variant_and_the_holdout_with_conversions_and_lift(api: CampaignApi) -> None:
    campaign_id = api.draft()["id"]
    project_id = api.project.project_id
    for group, entered, converted, revenue in (
        ("A", 100, 10, 39800.0),
        ("B", 300, 24, 95520.0),
        (HOLDOUT, 40, 2, 7960.0),
    ):
        api.stats.add(project_id, campaign_id, group, {Counter.ENTERED: entered, Counter.CONVERTED: converted})
        api.figures.revenue[(project_id, campaign_id, group)] = revenue
    api.stats.add(project_id, campaign_id, "A", {Counter.ACCEPTED: 98, Counter.UNIQUE_OPENED: 50})

    response = api.call("GET", f"/campaigns/{campaign_id}/results")

    assert response["statusCode"] == 200, response["body"]
    results = body(response)
    groups = {group["group"]: group for group in results["groups"]}
    assert list(groups) == ["A", "B", "holdout"]
    assert (groups["A"]["sent"], groups["A"]["unique_opened"], groups["A"]["revenue"]) == (98, 50, 39800.0)
    assert groups["A"]["conversion_rate"] == 0.1
    assert groups["A"]["lift"] == pytest.approx(0.1 / 0.05 - 1)
    assert groups["B"]["lift"] == pytest.approx(0.08 / 0.05 - 1)
    assert groups["holdout"]["holdout"] is True
    assert groups["holdout"]["lift"] is None
    assert results["conversion"] == {"event": "purchase", "window_seconds": 604800, "revenue_property": "revenue"}
    assert api.call("GET", f"/campaigns/{campaign_id}/results", key=api.other.admin_key)["statusCode"] == 404


def test_the_openapi_document_lists_the_campaign_routes(api: CampaignApi) -> None:
    document = body(api.call("GET", "/openapi.json", key=None))
    routes = {(method.upper(), path) for path, item in document["paths"].items() for method in item}

    assert routes >= {
        ("GET", "/admin/v1/campaigns"),
        ("POST", "/admin/v1/campaigns"),
        ("GET", "/admin/v1/campaigns/{campaign_id}"),
        ("PATCH", "/admin/v1/campaigns/{campaign_id}"),
        *{("POST", f"/admin/v1/campaigns/{{campaign_id}}/{action}") for action in ("activate", "pause", "resume")},
        ("POST", "/admin/v1/campaigns/{campaign_id}/archive"),
        ("GET", "/admin/v1/campaigns/{campaign_id}/results"),
    }
