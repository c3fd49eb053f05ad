"""A Mailgun-compatible sandbox for offline runs and tests (see README.md beside this file)."""

from local.mailgun_sandbox.sandbox import DEMO_DOMAIN, MailgunSandbox
from local.mailgun_sandbox.scenarios import Outcome, outcome_for
from local.mailgun_sandbox.webhooks import RETRY_SCHEDULE_SECONDS, sign

__all__ = ["DEMO_DOMAIN", "RETRY_SCHEDULE_SECONDS", "MailgunSandbox", "Outcome", "outcome_for", "sign"]
