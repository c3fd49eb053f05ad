"""The admin API's usage report and sending-limit settings, as API Gateway events over fakes."""

from __future__ import annotations

import pytest

from tests.unit.test_admin_api import Admin, body


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> Admin:
    return Admin(monkeypatch)


def test_the_limits_are_settings_and_come_back(admin: Admin) -> None:
    limits = {"monthly_limit": 50_000, "daily_limit": 5_000, "per_second_limit": 20, "allow_overage": True}
    saved = body(admin.call("PUT", "/settings", limits))
    again = body(admin.call("GET", "/settings"))
    assert {name: saved[name] for name in limits} == limits
    assert {name: again[name] for name in limits} == limits


def test_settings_without_limits_have_none(admin: Admin) -> None:
    settings = body(admin.call("GET", "/settings"))
    assert (settings["monthly_limit"], settings["daily_limit"], settings["per_second_limit"]) == (None, None, None)
    assert settings["allow_overage"] is False


@pytest.mark.parametrize(
    ("field", "value"), [("monthly_limit", 0), ("per_second_limit", 100_000), ("daily_limit", "x")]
)
def test_a_limit_out_of_range_is_refused_naming_the_field(admin: Admin, field: str, value: object) -> None:
    response = admin.call("PUT", "/settings", {field: value})
    assert response["statusCode"] == 400
    assert body(response)["field"] == field
    assert body(admin.call("GET", "/settings"))[field] is None


def test_the_usage_report_names_the_month_in_the_projects_zone_and_the_notices(admin: Admin) -> None:
    admin.call("PUT", "/settings", {"monthly_limit": 100, "daily_limit": 40, "per_second_limit": 5})
    project = admin.project.project_id
    admin.clock.now = admin.clock.now.replace(day=31, hour=16)  # 1 January 01:00 in Tokyo
    admin.usage.counts[(project, "m#2027-01")] = 95
    admin.usage.counts[(project, "m#2026-12")] = 7
    admin.usage.counts[(project, "h#2026-12-31T16")] = 30
    admin.usage.counts[(project, "h#2026-12-30T16")] = 99  # 24 hours ago: out of the window
    admin.usage.mark_notice(project, "m#2027-01", 90, admin.clock())

    usage = body(admin.call("GET", "/usage"))

    assert (usage["month"], usage["timezone"]) == ("2027-01", "Asia/Tokyo")
    assert usage["month_starts_at"].startswith("2026-12-31T15:00:00")
    assert usage["month_ends_at"].startswith("2027-01-31T15:00:00")
    assert (usage["sent_this_month"], usage["monthly_limit"], usage["sending_stopped"]) == (95, 100, False)
    assert [notice["threshold"] for notice in usage["notices"]] == [90]
    assert usage["last_24_hours"] == {"used": 30, "limit": 40}
    assert usage["per_second"] == {"used": 0, "limit": 5}


def test_the_usage_report_is_of_the_callers_project_only(admin: Admin) -> None:
    admin.usage.counts[(admin.project.project_id, "m#2026-12")] = 3
    mine = body(admin.call("GET", "/usage"))
    theirs = body(admin.call("GET", "/usage", key=admin.other.admin_key))
    assert (mine["sent_this_month"], theirs["sent_this_month"]) == (3, 0)
    assert admin.call("GET", "/usage", key=None)["statusCode"] == 401
