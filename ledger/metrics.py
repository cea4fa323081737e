"""The metrics every process of a node counts (prometheus-client). Under `serve` they are
kept per process in PROMETHEUS_MULTIPROC_DIR and summed by /metrics; elsewhere (tests, a
single process) they live in the default registry."""

from prometheus_client import Counter, Gauge, Histogram

SUBMISSIONS = Counter(
    "carbon_ledger_submissions",
    "Submissions answered, by outcome (accepted, replayed, refused) and refusal kind",
    ["outcome", "reason"],
)
BATCH_ITEMS = Histogram(
    "carbon_ledger_batch_items",
    "Submissions per batch request",
    buckets=(1, 10, 50, 100, 250, 500, 1000),
)
REQUEST_SECONDS = Histogram(
    "carbon_ledger_request_seconds",
    "HTTP request latency, by route template, method and status class",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CHECKPOINT_TIME = Gauge(
    "carbon_ledger_checkpoint_timestamp_seconds",
    "When this node's integrator last committed a checkpoint (Unix time)",
    multiprocess_mode="max",
)
WITNESS_FAILURES = Counter(
    "carbon_ledger_witness_failures",
    "Checkpoints a witness did not cosign (unreachable, refused or a bad cosignature)",
    ["witness"],
)
CRYPTO_WORKER_RESTARTS = Counter(
    "carbon_ledger_crypto_worker_restarts", "Ed25519 worker processes started again after dying"
)
