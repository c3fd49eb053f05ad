"""`tagmail`: the operator's command line. Its authority is the operator's AWS credentials.

Table names come from the environment (as in the functions) or from the deployed stack's resources.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from tagmail import bootstrap
from tagmail.errors import TagmailError

# Environment variable of each table, and its logical id in template.yaml.
TABLES = {
    "PROJECTS_TABLE": "ProjectsTable",
    "API_KEYS_TABLE": "ApiKeysTable",
    "USERS_TABLE": "UsersTable",
    "EVENTS_TABLE": "EventsTable",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tagmail", description="Operate a tagmail deployment.")
    parser.add_argument(
        "--stack",
        default=os.environ.get("TAGMAIL_STACK", "tagmail"),
        help="CloudFormation stack to find the tables in, when the *_TABLE variables are not set (default: tagmail)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    project = commands.add_parser("project", help="manage projects").add_subparsers(dest="action", required=True)
    create = project.add_parser("create", help="create a project and print its keys (shown only once)")
    create.add_argument("--name", required=True, help="a name for people, e.g. the shop's name")
    create.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)

    try:
        _resolve_tables(args.stack)
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


def _resolve_tables(stack: str) -> None:
    missing = [name for name in TABLES if not os.environ.get(name)]
    if not missing:
        return
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    cloudformation = boto3.client("cloudformation")
    try:
        for name in missing:
            resource = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=TABLES[name])
            os.environ[name] = resource["StackResourceDetail"]["PhysicalResourceId"]
    except (BotoCoreError, ClientError) as exc:
        raise TagmailError(f"cannot find the tables of stack {stack!r}: {exc}") from exc
    bootstrap.reset()


if __name__ == "__main__":
    sys.exit(main())
