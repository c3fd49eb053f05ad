"""`tagmail`: the operator's command line. Its authority is the operator's AWS credentials.

Table names and the rest of the configuration come from the environment (as in the functions) or,
when it is not set, from the deployed admin function's own environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tagmail import bootstrap
from tagmail.domain.settings import MailgunRegion
from tagmail.errors import TagmailError
from tagmail.observability import logger

if TYPE_CHECKING:
    from tagmail.api.models import DomainOut


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tagmail", description="Operate a tagmail deployment.")
    parser.add_argument(
        "--stack",
        default=os.environ.get("TAGMAIL_STACK", "tagmail"),
        help="the deployed stack whose configuration to use when the environment names none (default: tagmail)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    project = commands.add_parser("project", help="manage projects").add_subparsers(dest="action", required=True)
    create = project.add_parser("create", help="create a project and print its keys (shown only once)")
    create.add_argument("--name", required=True, help="a name for people, e.g. the shop's name")
    create.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_settings_command(project)
    _add_domain_command(commands)
    args = parser.parse_args(argv)
    if args.command == "domain":
        return _domain_check(args)
    if args.action == "settings":
        return _settings(args)

    try:
        _resolve_environment(args.stack)
        created = bootstrap.project_admin().create_project(args.name)
    except TagmailError as error:
        print(f"tagmail: {error.message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"id": created.project_id, "write_key": created.write_key, "admin_key": created.admin_key}))
    else:
        print(f"project:   {created.project_id} ({created.name})")
        print(f"write key: {created.write_key}")
        print(f"admin key: {created.admin_key}")
        print("Keep the admin key secret; it is stored only as a hash and cannot be shown again.")
    return 0


# -- project settings -----------------------------------------------------------------------------

# Settings flags and the MailSettings field each sets.
_SETTING_FLAGS = {
    "domain": "sending_domain",
    "sender_name": "sender_name",
    "sender_address": "sender_address",
    "reply_to": "reply_to",
    "notification_address": "notification_address",
    "postal_address": "postal_address",
    "mailgun_base_url": "mailgun_base_url",
    "locale": "default_locale",
    "timezone": "timezone",
}


def _add_settings_command(project: Any) -> None:
    settings = project.add_parser(
        "settings",
        help="show or change a project's mail settings (the same rules and Mailgun setup as PUT /admin/v1/settings)",
        description="Flags not given keep their value; an empty value (--reply-to '') clears it. Secrets are read "
        "from standard input, never from the command line: the API key on the first line, the signing key on the next.",
    )
    settings.add_argument("--project", required=True, help="the project id")
    for flag in _SETTING_FLAGS:
        settings.add_argument(f"--{flag.replace('_', '-')}", dest=flag)
    settings.add_argument("--region", choices=[region.value for region in MailgunRegion], help="Mailgun region")
    for name in ("click", "open"):
        settings.add_argument(f"--{name}-tracking", choices=["on", "off"], dest=f"{name}_tracking")
    settings.add_argument("--sending", choices=["on", "off"], help="on: enabled, off: no mail at all")
    settings.add_argument("--mailgun-api-key-stdin", action="store_true", help="read the Mailgun API key from stdin")
    settings.add_argument("--webhook-signing-key-stdin", action="store_true", help="read the signing key from stdin")


def _settings(args: argparse.Namespace) -> int:
    from tagmail.api.models import SettingsOut
    from tagmail.services.settings import SettingsChange

    # Info logs would mix with the JSON printed on stdout.
    log = logger()
    level = log.log_level
    log.setLevel("WARNING")
    try:
        _resolve_environment(args.stack)
        service = bootstrap.settings_service()
        current = service.get(args.project).settings
        changes: dict[str, Any] = {
            field: getattr(args, flag) or None
            for flag, field in _SETTING_FLAGS.items()
            if getattr(args, flag) is not None
        }
        if args.region:
            changes["mailgun_region"] = MailgunRegion(args.region)
        for name in ("click", "open"):
            if getattr(args, f"{name}_tracking"):
                changes[f"disable_{name}_tracking"] = getattr(args, f"{name}_tracking") == "off"
        if args.sending:
            changes["enabled"] = args.sending == "on"
        secrets = (
            iter(sys.stdin.read().splitlines())
            if args.mailgun_api_key_stdin or args.webhook_signing_key_stdin
            else iter(())
        )
        api_key = next(secrets, "") if args.mailgun_api_key_stdin else None
        signing_key = next(secrets, "") if args.webhook_signing_key_stdin else None
        if not changes and api_key is None and signing_key is None:
            view = service.get(args.project)
        else:
            change = SettingsChange(
                replace(current, **changes), mailgun_api_key=api_key, webhook_signing_key=signing_key
            )
            view = service.update(args.project, change)
    except TagmailError as error:
        field = getattr(error, "field", None)
        print(f"tagmail: {field + ': ' if field else ''}{error.message}", file=sys.stderr)
        return 2
    finally:
        log.setLevel(level)
    print(SettingsOut.of(view).model_dump_json(indent=2, exclude_none=True))
    return 0


# -- the sending domain ---------------------------------------------------------------------------


def _add_domain_command(commands: Any) -> None:
    domain = commands.add_parser("domain", help="the sending domain's DNS readiness").add_subparsers(
        dest="action", required=True
    )
    check = domain.add_parser(
        "check",
        help="check the project's sending domain now and print the report (as GET /admin/v1/domain shows it)",
        description="Checks SPF, DKIM, MX, DMARC and the tracking CNAME against what Mailgun asks for, keeps the "
        "result (the send path opens sending from it) and prints each check with the records to add. "
        "Exit status: 0 when sending is open, 1 when it is not yet, 2 when the check could not run.",
    )
    check.add_argument("--project", required=True, help="the project id")
    check.add_argument("--json", action="store_true", help="print the admin API's JSON instead of text")


def _domain_check(args: argparse.Namespace) -> int:
    from tagmail.api.models import DomainOut

    log = logger()
    level = log.log_level
    log.setLevel("WARNING")
    try:
        _resolve_environment(args.stack)
        report = DomainOut.of(bootstrap.domain_readiness_service().check(args.project))
    except TagmailError as error:
        field = getattr(error, "field", None)
        print(f"tagmail: {field + ': ' if field else ''}{error.message}", file=sys.stderr)
        return 2
    finally:
        log.setLevel(level)
    print(report.model_dump_json(indent=2) if args.json else readable_domain_report(report))
    return 0 if report.sending_open else 1


_STATUS_LABEL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


def readable_domain_report(report: DomainOut) -> str:
    """The admin API's domain report (DomainOut) as text for people setting up DNS."""
    lines = [
        f"Domain {report.domain} (Mailgun: {report.state or 'unknown'}), checked {_when(report.checked_at)}",
    ]
    if report.sending_open:
        lines.append(f"Sending: open (since {_when(report.sending_opens_at)})")
    elif report.sending_opens_at is not None:
        lines.append(
            f"Sending: opens {_when(report.sending_opens_at)}, {report.sending_wait_hours} hours after SPF and DKIM "
            f"were first seen passing ({_when(report.passing_since)})"
        )
    else:
        lines.append(
            f"Sending: closed ({report.closed_reason}) until SPF and DKIM pass, then "
            f"{report.sending_wait_hours} hours more"
        )
    lines.append("")
    for check in report.checks:
        required = "required" if check.required else "recommended"
        lines.append(f"{_STATUS_LABEL.get(check.status, check.status.upper())}  {check.name.upper():<8} ({required})")
        lines.append(f"      {check.summary}")
        if check.dns_error:
            lines.append(f"      DNS error: {check.dns_error}")
        lines.extend(f"      found:    {found}" for found in check.found)
        if check.status != "pass":
            lines.extend(f"      expected: {expected}" for expected in check.expected)
        lines.extend(f"      note:     {detail}" for detail in check.details)
    if report.records_to_add:
        lines += ["", "Records to add (zone file lines):"]
        for record in report.records_to_add:
            lines.append(f"  {record.zone_line}")
            lines.extend(f"    replacing: {old}" for old in record.replaces)
    else:
        lines += ["", "No records to add."]
    return "\n".join(lines)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"


def _resolve_environment(stack: str) -> None:
    """Fill what is not set from the deployed admin function's own environment (it names every
    table, queue and the secrets prefix exactly as the functions see them)."""
    if os.environ.get("PROJECTS_TABLE") and os.environ.get("SECRETS_PREFIX"):
        return
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        resource = boto3.client("cloudformation").describe_stack_resource(
            StackName=stack, LogicalResourceId="AdminFunction"
        )
        function = resource["StackResourceDetail"]["PhysicalResourceId"]
        environment = boto3.client("lambda").get_function_configuration(FunctionName=function)["Environment"]
    except (BotoCoreError, ClientError, KeyError) as exc:
        raise TagmailError(f"cannot read the configuration of stack {stack!r}: {exc}") from exc
    for name, value in environment.get("Variables", {}).items():
        os.environ.setdefault(name, value)
    bootstrap.reset()


if __name__ == "__main__":
    sys.exit(main())
