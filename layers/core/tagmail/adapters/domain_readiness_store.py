"""The domain check's results on the project item: the small state the send gate reads with the
project, and the last report the admin API shows, written together by one UpdateItem."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PynamoDBException, UpdateError

from tagmail.adapters.dynamodb import ProjectItem, is_condition_failure, readiness_to_json, unavailable
from tagmail.domain.dns_readiness import (
    Check,
    CheckName,
    CheckStatus,
    DnsError,
    DomainReadiness,
    ExpectedRecord,
    ReadinessReport,
    RecordToAdd,
)
from tagmail.errors import NotFound


class DynamoDomainReadiness:
    def __init__(self, model: type[ProjectItem]) -> None:
        self._model = model

    def save(self, project_id: str, readiness: DomainReadiness, report: ReadinessReport) -> None:
        model = self._model
        try:
            model(project_id).update(
                actions=[
                    model.domain_readiness.set(readiness_to_json(readiness)),
                    model.domain_report.set(json.dumps(report_document(report), separators=(",", ":"))),
                ],
                condition=model.project_id.exists(),
            )
        except UpdateError as exc:
            if is_condition_failure(exc):
                raise NotFound(f"project {project_id} does not exist") from exc
            raise unavailable(exc) from exc
        except PynamoDBException as exc:
            raise unavailable(exc) from exc

    def last_report(self, project_id: str) -> ReadinessReport | None:
        try:
            item = self._model.get(project_id, attributes_to_get=["project_id", "domain_report"])
        except self._model.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise unavailable(exc) from exc
        return report_from_document(json.loads(item.domain_report)) if item.domain_report else None

    def project_ids_with_domain(self) -> list[str]:
        model = self._model
        try:
            return [
                str(item.project_id)
                for item in model.scan(filter_condition=model.sending_domain.exists(), attributes_to_get=["project_id"])
            ]
        except PynamoDBException as exc:
            raise unavailable(exc) from exc


def report_document(report: ReadinessReport) -> dict[str, Any]:
    return {
        "domain": report.domain,
        "checked_at": report.checked_at.isoformat(),
        "mailgun_state": report.mailgun_state,
        "sending_dns_records": [_expected(record) for record in report.sending_dns_records],
        "receiving_dns_records": [_expected(record) for record in report.receiving_dns_records],
        "checks": [
            {
                "name": check.name.value,
                "status": check.status.value,
                "summary": check.summary,
                "found": list(check.found),
                "expected": list(check.expected),
                "records_to_add": [
                    {
                        "record_type": record.record_type,
                        "name": record.name,
                        "value": record.value,
                        "priority": record.priority,
                        "replaces": list(record.replaces),
                    }
                    for record in check.records_to_add
                ],
                "dns_error": check.dns_error.value if check.dns_error else None,
                "details": list(check.details),
            }
            for check in report.checks
        ],
    }


def report_from_document(document: dict[str, Any]) -> ReadinessReport:
    return ReadinessReport(
        domain=document["domain"],
        checked_at=datetime.fromisoformat(document["checked_at"]),
        mailgun_state=document.get("mailgun_state"),
        sending_dns_records=tuple(ExpectedRecord(**record) for record in document.get("sending_dns_records", [])),
        receiving_dns_records=tuple(ExpectedRecord(**record) for record in document.get("receiving_dns_records", [])),
        checks=tuple(
            Check(
                name=CheckName(check["name"]),
                status=CheckStatus(check["status"]),
                summary=check["summary"],
                found=tuple(check["found"]),
                expected=tuple(check["expected"]),
                records_to_add=tuple(
                    RecordToAdd(
                        record_type=record["record_type"],
                        name=record["name"],
                        value=record["value"],
                        priority=record.get("priority"),
                        replaces=tuple(record.get("replaces", [])),
                    )
                    for record in check["records_to_add"]
                ),
                dns_error=DnsError(check["dns_error"]) if check.get("dns_error") else None,
                details=tuple(check.get("details", [])),
            )
            for check in document["checks"]
        ),
    )


def _expected(record: ExpectedRecord) -> dict[str, Any]:
    return {
        "record_type": record.record_type,
        "name": record.name,
        "value": record.value,
        "priority": record.priority,
        "valid": record.valid,
    }
