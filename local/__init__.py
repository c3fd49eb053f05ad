"""The offline tagmail stack: moto, the template's resources, and its functions run in-process."""

from local.stack import ALL_EVENT_SOURCES, LocalStack

__all__ = ["ALL_EVENT_SOURCES", "LocalStack"]
