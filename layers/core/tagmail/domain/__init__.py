"""Entities and rules of tagmail, pure Python: no I/O, no SDKs, no environment."""
