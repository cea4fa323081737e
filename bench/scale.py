"""City scale: a city-shaped log built through the ledger's own API to a given size, with a
table of figures at every million entries (issue #16).

    python bench/scale.py --to 5000000 --backend postgres      # a new schema of `test`
    python bench/scale.py --to 10000000 --database scale --audit  # out of the tests' way
    python bench/scale.py --to 1000000 --backend sqlite --data DIR
    python bench/scale.py --to 200000 --every 100000 --audit   # smaller steps, audits too

The city: the demo's keys and factor tables, 600 enterprises' monthly readings and 180
farms (graded once loaded), then persons at 26 banks and the city's bus platform, streamed
(opened accounts, green behaviours, redemptions) until the log holds `--to` entries. The
submissions are signed here and appended with `Ledger.submit_batch`, integrated as they go.

At every `--every` entries it stops and prints a row: the ingest rate since the last row;
p50/p99 of an inclusion proof, a consistency proof, an account's entries, a balance
statement and an industrial grade's evidence (`--samples` each, random); the read models'
fold rate (on the next `--fold` entries); bytes on disk per entry, tables and indexes apart
(the ledger's and the read models'); peak memory of this process and of the database's
busiest process (PostgreSQL's statistics are refreshed before each row, as autovacuum
would; this machine runs it with autovacuum off); with `--audit`, an incremental audit of
what is new (`export --since`, `verify --since` on every core) with its rate and memory.
Targets (#16): ingest at 5M within 15% of 1M; proofs p99 < 10 ms and statements p99 < 50
ms at 5M.
"""

import argparse
import itertools
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ledger.bundles import statement_bundle, write_export  # noqa: E402
from ledger.faults import is_transient  # noqa: E402
from ledger.node import Node, open_node  # noqa: E402
from ledger.queries import account_entries  # noqa: E402
from ledger.settings import Settings  # noqa: E402
from projections.evidence import evidence_bundle  # noqa: E402
from projections.runner import Projector  # noqa: E402
from projections.views import Views  # noqa: E402
from tools.collector import tune_collector  # noqa: E402
from tools.demo import (  # noqa: E402
    DemoPlan,
    bank_codes,
    demo_keys,
    grade_all,
    operations,
    wires,
)
from tools.init import initialise  # noqa: E402
from tools.progress import progress_bar  # noqa: E402

SEED = 16
BANKS = 26
BATCH = 500
INTEGRATE_EVERY = 10_000
PG = {"dbname": "test", "host": "127.0.0.1", "port": "5432", "user": "postgres"}
COLUMNS = (
    ("entries", 10),
    ("ingest/s", 9),
    ("incl p50/p99", 13),
    ("cons p50/p99", 13),
    ("acct p50/p99", 13),
    ("stmt p50/p99", 13),
    ("evid p50/p99", 14),
    ("fold/s", 7),
    ("B/e tbl+idx", 12),
    ("views B/e", 10),
    ("RSS MB", 7),
    ("db MB", 6),
    ("audit/s", 8),
    ("audit MB", 8),
)


def storage_for(backend: str, schema: str) -> dict[str, str]:
    if backend == "sqlite":
        return {}
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": PG["dbname"],
        "POSTGRES_HOST": PG["host"],
        "POSTGRES_PORT": PG["port"],
        "POSTGRES_USER": PG["user"],
        "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": schema,
    }


def city(seed: int) -> DemoPlan:
    """The demo's keys, firms and farms first, then persons without end, streamed."""
    codes = bank_codes(BANKS)
    firms = operations(seed, BANKS, 0, 600, 180)
    persons = operations(seed + 1, BANKS, 10**9, 0, 0)
    return DemoPlan(codes, demo_keys(codes), itertools.chain(firms, persons))


def retried(call: Callable[[], object], attempts: int = 10) -> None:
    """`call`, again after storage trouble (another program took every connection, say)."""
    for attempt in range(attempts):
        try:
            call()
            return
        except Exception as error:
            if not is_transient(error) or attempt == attempts - 1:
                raise
            print(f"# storage trouble, retrying: {error}", file=sys.stderr, flush=True)
            time.sleep(1 + attempt)


def percentiles(samples: list[float]) -> str:
    """p50/p99 in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered) * 1000:.1f}/{p99 * 1000:.1f}"


def timed(calls: list[Callable[[], object]]) -> str:
    """p50/p99 of the calls; one that storage trouble interrupted is tried again and timed
    whole (a run of an hour is not lost to a restarted database)."""
    samples = []
    for call in calls:
        started = time.perf_counter()
        retried(call)
        samples.append(time.perf_counter() - started)
    return percentiles(samples) if samples else "-"


SETTINGS_SHOWN = ("shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression")


def pg_settings() -> str:
    """The PostgreSQL settings a table's figures depend on, as `name=value` pairs."""
    import psycopg

    with psycopg.connect(**PG) as connection:
        shown = [
            f"{name}={connection.execute(f'SHOW {name}').fetchone()[0]}" for name in SETTINGS_SHOWN
        ]
    return " ".join(shown)


def disk(node: Node, backend: str, schema: str, data: Path) -> dict[str, int]:
    """Bytes of the ledger's tables and indexes, and of the read models', by kind."""
    sizes = {"tables": 0, "indexes": 0, "views": 0}
    if backend == "postgres":
        import psycopg

        with psycopg.connect(**PG) as connection:
            rows = connection.execute(
                "SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind = 'r'",
                [schema],
            ).fetchall()
        for name, table, index in rows:
            if name.startswith("proj"):
                sizes["views"] += table + index
            else:
                sizes["tables"] += table
                sizes["indexes"] += index
        return sizes
    import sqlite3

    with sqlite3.connect(data / "ledger.sqlite") as connection:
        kinds = dict(connection.execute("SELECT name, type FROM sqlite_master").fetchall())
        for name, size in connection.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            owner = name.removeprefix("sqlite_autoindex_")
            if owner.startswith("proj"):
                sizes["views"] += size
            elif kinds.get(name) == "index" or name.startswith("sqlite_autoindex"):
                sizes["indexes"] += size
            else:
                sizes["tables"] += size
    return sizes


def database_peak_mb(backend: str) -> float:
    """The largest peak resident memory of any PostgreSQL process (0 for SQLite)."""
    if backend != "postgres":
        return 0.0
    peak = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if "\nName:\tpostgres" not in "\n" + text:
            continue
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


def personal_accounts(node: Node, rng: random.Random, wanted: int) -> list[str]:
    """Banks' personal accounts of the entries at random indexes of the log, one each (the
    log lists only enterprises', farms' and system accounts, and this bench's read models
    lag)."""
    size, found = node.reader.size(), list[str]()
    for _ in range(20 * wanted):
        index = rng.randrange(size)
        account = node.log.leaves(index, index + 1)[0].account
        if account.startswith("per:bank0"):
            found.append(account)
            if len(found) == wanted:
                break
    return found


class Scale:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(SEED)
        self.schema = args.schema or f"scale_{uuid.uuid4().hex[:8]}"
        if args.backend == "postgres" and not args.schema:
            import psycopg

            with psycopg.connect(**PG, autocommit=True) as connection:
                connection.execute(f"CREATE SCHEMA {self.schema}")
        self.data = args.data or Path(tempfile.mkdtemp(prefix="carbon-scale-"))
        settings = Settings.build(self.data, storage_for(args.backend, self.schema))
        initialise(settings)
        self.node = open_node(settings)
        self.views = Views(self.node.store)
        self.projector = Projector(self.node.store)
        self.audit_dir = Path(tempfile.mkdtemp(prefix="carbon-audit-"))
        self.audited = 0
        self.graded_through = 0  # evidence needs the read models past the grades
        self.map_warmup_ms = 0.0

    def run(self) -> None:
        args = self.args
        print(
            f"# {args.backend}"
            + (f" schema {self.schema}" if args.backend == "postgres" else f" {self.data}")
        )
        if args.backend == "postgres":
            print(f"# PostgreSQL {pg_settings()}")
        print(" ".join(f"{name:>{width}}" for name, width in COLUMNS), flush=True)
        stream = wires(self.node, city(SEED), SEED)
        graded = False
        started = step_started = time.monotonic()
        step_base = 0
        next_row = args.every
        while (size := self.node.reader.size()) < args.to:
            batch = list(itertools.islice(stream, min(BATCH, args.to - size)))
            retried(partial(self.node.ledger.submit_batch, batch))  # a retry is a replay
            appended = self.node.store.recorder.max_notification_id() or 0
            if appended - size >= INTEGRATE_EVERY or appended >= args.to:
                retried(self.node.integrate_pending)
                size = self.node.reader.size()
                progress_bar(size, args.to, started)
            if not graded and size >= 16_000:  # the firms and farms are in: grade them once
                grade_all(self.node)
                graded = True
                self.analyze()
                self.graded_through = self.node.store.recorder.max_notification_id() or 0
            if size >= next_row:
                rate = (size - step_base) / (time.monotonic() - step_started)
                sys.stderr.write("\n")
                self.row(size, rate)
                next_row += args.every
                step_started, step_base = time.monotonic(), self.node.reader.size()
        sys.stderr.write("\n")

    def analyze(self) -> None:
        """Table statistics, as autovacuum keeps them (this machine's PostgreSQL runs with
        autovacuum off; without statistics the planner guesses and joins go wrong)."""
        if self.args.backend != "postgres":
            return
        import psycopg

        with psycopg.connect(**PG, autocommit=True) as connection:
            connection.execute(f"SET search_path TO {self.schema}")
            connection.execute("ANALYZE")

    def row(self, size: int, rate: float) -> None:
        self.analyze()
        node, rng, samples = self.node, self.rng, self.args.samples
        reader = node.reader
        log_size = reader.size()
        persons = personal_accounts(node, rng, samples)
        firms = node.log.accounts("ind:")
        indexes = [rng.randrange(1, log_size) for _ in range(samples)]
        incl = [partial(reader.inclusion, i, log_size) for i in indexes]
        cons = [partial(reader.consistency, i, log_size) for i in indexes]
        picked = [rng.choice(persons) for _ in range(samples)]
        acct = [partial(account_entries, node.store, node.log, a, -1, 100) for a in picked]
        stmt = [partial(statement_bundle, node, a) for a in picked]
        started = time.perf_counter()
        node.map_reader.prove([])  # a serving process reads the map's top once, then follows
        self.map_warmup_ms = (time.perf_counter() - started) * 1000
        fold_rate = self.fold()
        graded = [rng.choice(firms) for _ in range(max(samples // 10, 5))]
        evid = [
            partial(evidence_bundle, node, self.views, a, "2026-Q3", lambda _: True) for a in graded
        ]
        sizes = disk(node, self.args.backend, self.schema, self.data)
        audit_rate, audit_mb = self.audit() if self.args.audit else (0.0, 0.0)
        cells = [
            f"{log_size:,}",
            f"{rate:,.0f}",
            timed(incl),
            timed(cons),
            timed(acct),
            timed(stmt),
            timed(evid),
            f"{fold_rate:,.0f}",
            f"{sizes['tables'] // log_size}+{sizes['indexes'] // log_size}",
            f"{sizes['views'] // log_size}",
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f}",
            f"{database_peak_mb(self.args.backend):,.0f}",
            f"{audit_rate:,.0f}" if self.args.audit else "-",
            f"{audit_mb:,.0f}" if self.args.audit else "-",
        ]
        print(
            " ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True)),
            flush=True,
        )
        print(f"# the account map's top read in {self.map_warmup_ms:,.0f} ms (once a process)")

    def fold(self) -> float:
        """The read models fold the next `--fold` entries (or all, if fewer): entries/s."""
        started, done = time.monotonic(), 0
        while done < self.args.fold or self.projector.position() < self.graded_through:
            if not (count := self.projector.step()):
                break
            done += count
        return done / max(time.monotonic() - started, 1e-9)

    def audit(self) -> tuple[float, float]:
        """An incremental audit of what is new since the last row: (entries/s, peak MB)."""
        size = self.node.reader.size()
        bundle, state = self.audit_dir / "since.jsonl", self.audit_dir / "audit.state"
        with bundle.open("w") as out:
            write_export(self.node, out, since=self.audited)
        command = [sys.executable, "-m", "tools.cli", "verify", str(bundle), "--json"]
        command += ["--log-key", self.node.ledger_key.verifier.text, "--state", str(state)]
        if self.audited:
            command += ["--since", str(state)]
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
        seconds = time.monotonic() - started
        result = json.loads(done.stdout or b"{}")
        if done.returncode != 0 or not result.get("ok"):
            raise SystemExit(f"the audit failed: {done.stdout.decode()[:500]}")
        self.audited = size
        # its own measure: a child forked from this process would count this one's pages
        return result["entries"] / seconds, float(result["peak_rss_mb"])

    def close(self) -> None:
        self.node.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--to", type=int, default=1_000_000, help="entries in the log at the end")
    parser.add_argument("--every", type=int, default=1_000_000, help="entries between rows")
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--schema", help="an existing PostgreSQL schema (default: a new one)")
    parser.add_argument(
        "--database",
        default=PG["dbname"],
        help="PostgreSQL database (another than the tests' `test`: a test that ends every"
        " session of its database cannot end the run)",
    )
    parser.add_argument("--data", type=Path, help="data directory (default: a temporary one)")
    parser.add_argument("--samples", type=int, default=200, help="requests per latency figure")
    parser.add_argument("--fold", type=int, default=100_000, help="entries folded per row")
    parser.add_argument("--audit", action="store_true", help="audit what is new at every row")
    args = parser.parse_args()
    PG["dbname"] = args.database
    tune_collector()  # as in the ledger's own processes
    scale = Scale(args)
    try:
        scale.run()
    finally:
        scale.close()


if __name__ == "__main__":
    main()
