"""tagmail: serverless e-mail for web shops (tracking, trigger and list mail through Mailgun)."""

__version__ = "0.1.0"
