"""Benchmarks of tagmail's ingest path: throughput, DynamoDB units, cold imports and AWS cost."""
