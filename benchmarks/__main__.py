"""`python -m benchmarks`: run the benchmarks and print a table (JSON goes to benchmarks/results/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import api

SUITES = (
    "api",
    "orders",
    "expiry",
    "card",
    "liability",
    "events",
    "duplicates",
    "segments",
    "imports",
    "history",
    "clv",
    "basket",
    "analytics",
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000, help="demo customers to load (default 100000)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="measured seconds per endpoint or orders row (default 10; events: 20)",
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each endpoint")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="guanxi serve processes, clients spread over them (default 1; orders: 1 on SQLite, 2 on PostgreSQL)",
    )
    parser.add_argument(
        "--order-clients", default="1,8,32", help="orders: concurrent clients per row, comma-separated (1,8,32)"
    )
    parser.add_argument(
        "--group-commit",
        choices=("on", "off", "both"),
        default="both",
        help="orders: group commit on (the default server), off (GUANXI_GROUP_COMMIT=0) or both in one run "
        "(default); events: on unless off",
    )
    parser.add_argument("--members", type=int, default=5000, help="orders: enrolled members (steady state)")
    parser.add_argument("--newcomers", type=int, default=40000, help="orders: never-enrolled customers (new members)")
    parser.add_argument(
        "--mixes", default="steady,new", help="orders: steady (existing members), new (first orders), or both"
    )
    parser.add_argument(
        "--breakdown-orders", type=int, default=300, help="orders: in-process CPU breakdown over N orders (0: none)"
    )
    parser.add_argument("--events-customers", type=int, default=5000, help="events: demo customers (5000)")
    parser.add_argument(
        "--load-sizes",
        default="5000",
        help="also time demo loads of these sizes into scratch homes, comma-separated ('' for none)",
    )
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (an empty database) instead of SQLite")
    parser.add_argument("--home", type=Path, default=None, help="GUANXI_HOME to use (reused if already loaded)")
    parser.add_argument("--only", default="", help="comma-separated endpoint keys, e.g. livez,phone,lookup")
    parser.add_argument(
        "--client", choices=("raw", "httpx"), default="raw", help="load generator client (see benchmarks/loadgen.py)"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each endpoint, wait up to this many seconds for other processes to go idle",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument(
        "--suite",
        default=",".join(SUITES),
        help=f"comma-separated suites to run: {', '.join(SUITES)} (default all); all but api "
        "create their own fresh database on the --database-url server",
    )
    args = parser.parse_args(argv)
    return args


def api_options(args: argparse.Namespace) -> api.Options:
    return api.Options(
        customers=args.customers,
        seconds=args.seconds or 10.0,
        warmup=args.warmup,
        concurrency=args.concurrency,
        database_url=args.database_url,
        home=args.home,
        keep=args.keep,
        load_sizes=tuple(int(s) for s in args.load_sizes.split(",") if s.strip()),
        workers=args.workers or 1,
        only=tuple(s.strip() for s in args.only.split(",") if s.strip()),
        client=args.client,
        wait_quiet=args.wait_quiet,
    )


def run(argv: list[str]) -> int:
    args = parse(argv)
    options = api_options(args)
    chosen = parse_suites(argv)
    failed = 0
    if "api" in chosen:
        failed |= api.main(options)
    if "orders" in chosen:
        from benchmarks import orders

        failed |= orders.main(
            orders.Options(
                members=args.members,
                newcomers=args.newcomers,
                seconds=args.seconds or 10.0,
                warmup=max(args.warmup, 2.0),
                clients=tuple(int(c) for c in args.order_clients.split(",") if c.strip()),
                workers=args.workers,
                group_commit=args.group_commit,
                mixes=tuple(m.strip() for m in args.mixes.split(",") if m.strip()),
                database_url=args.database_url,
                keep=args.keep,
                wait_quiet=args.wait_quiet,
                breakdown_orders=args.breakdown_orders,
            )
        )
    if "expiry" in chosen:
        from benchmarks import expiry

        failed |= expiry.main(options.database_url)
    if "card" in chosen:
        from benchmarks import card

        failed |= card.main(options.database_url)
    if "liability" in chosen:
        from benchmarks import liability

        failed |= liability.main(["--database-url", options.database_url] if options.database_url else [])
    if "events" in chosen:
        from benchmarks import events

        failed |= events.main(events_argv(args))
    if "duplicates" in chosen:
        from benchmarks import duplicates

        failed |= duplicates.main(["--database-url", options.database_url] if options.database_url else [])
    if "segments" in chosen:
        from benchmarks import segments

        failed |= segments.main(["--database-url", options.database_url] if options.database_url else [])
    if "imports" in chosen:
        from benchmarks import imports

        failed |= imports.main(["--database-url", options.database_url] if options.database_url else [])
    if "history" in chosen:
        from benchmarks import history

        failed |= history.main(["--database-url", options.database_url] if options.database_url else [])
    if "clv" in chosen:
        from benchmarks import clv

        failed |= clv.main([])
    if "basket" in chosen:
        from benchmarks import basket

        failed |= basket.main([])
    if "analytics" in chosen:
        from benchmarks import analytics

        failed |= analytics.main(["--database-url", options.database_url] if options.database_url else [])
    return failed


def events_argv(args: argparse.Namespace) -> list[str]:
    argv = ["--customers", str(args.events_customers), "--wait-quiet", str(args.wait_quiet)]
    argv += ["--database-url", args.database_url] if args.database_url else []
    argv += ["--seconds", str(args.seconds)] if args.seconds else []
    argv += ["--workers", str(args.workers)] if args.workers else []
    argv += ["--group-commit", args.group_commit] if args.group_commit != "both" else []
    return argv


def parse_suites(argv: list[str]) -> list[str]:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--suite", default=",".join(SUITES))
    chosen = [s.strip() for s in pre.parse_known_args(argv)[0].suite.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        raise SystemExit(f"unknown suite {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    return chosen


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
