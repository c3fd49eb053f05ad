"""Adapters to AWS and other services; only tagmail.bootstrap wires them in."""
