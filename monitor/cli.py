"""The `driftline` command: demo, run, serve, ingest, backfill, check, init, refresh, silence, ack. Exit codes in EPILOG.

Only the stdlib and leaf rooms load at start, so `--help` answers at once (tests/monitor/test_cli_startup.py).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config import defaults
from monitor.demo.scenarios import SCENARIOS
from monitor.errors import ConfigError, DriftlineError, StoreError

if TYPE_CHECKING:
    from monitor.config import ModelConfig
    from monitor.pipeline.failures import RunFailure
    from monitor.schema.summary import RunSummary



def _when(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text)  # 3.11 reads a trailing Z
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2026-11-20T00:00Z)") from None
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def _err(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def _failed(summaries: Sequence[RunSummary], fail_on: str | None) -> int:
    """Exit status 1 when --fail-on drift|alert finds what it names, else 0."""
    if fail_on == "drift" and any(s.dataset_drift or any(v.drifted for v in s.features) for s in summaries):
        return 1
    if fail_on == "alert" and any(a.severity != "resolved" for s in summaries for a in s.alerts):
        return 1
    return 0


def _quiet_stdout(args: argparse.Namespace) -> contextlib.AbstractContextManager[object]:
    # With --json, stdout carries only the JSON: console alerts and progress go to stderr. With --quiet
    # (and no --json) the console channel is silenced too, as the flag promises: a cron job that asked for
    # silence reads the exit code (--fail-on) and the run page; the alert's other channels still send.
    if getattr(args, "json", False):
        return contextlib.redirect_stdout(sys.stderr)
    if getattr(args, "quiet", False):
        return _discarded_stdout()
    return contextlib.nullcontext()


@contextlib.contextmanager
def _discarded_stdout() -> Iterator[None]:
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def _configs(args: argparse.Namespace) -> dict[str, ModelConfig]:
    from monitor.api import wiring as service
    from monitor.pipeline.models import load_models

    configs = load_models(args.config_dir)
    service.register(configs)
    if getattr(args, "model", None) and args.model not in configs:
        raise ConfigError(f"unknown model {args.model!r}; configured: {sorted(configs)}")
    return configs


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.api import forward
    from monitor.api import wiring as service

    if args.dry_run:  # the bytes each run would process: nothing run, stored or sent
        from monitor.pipeline.dry_run import dry_run_text
        print(dry_run_text(_configs(args), service.open_store, args.at, args.model))
        return 0
    failures: list[RunFailure] = []
    configs = _configs(args)
    if url := forward.service_holding(configs, args.model):  # `serve` holds the DuckDB file: it does the run
        summaries, errors, retry = forward.run(url, args.model, args.at)
        busy = False
    else:
        service.check_at(configs, args.at, args.model)  # outside [first logged row, now]: exit 2, naming the range
        with _quiet_stdout(args):
            summaries = service.run(configs, at=args.at, model=args.model, failures=failures, reports="later")
        errors, retry = [f.line() for f in failures], any(f.retryable for f in failures)
        busy = bool(failures) and all(f.status == "in_progress" for f in failures)
    _emit(summaries, args.json, quiet=args.quiet)
    if args.reports and not url:  # after the summaries: the verdicts never wait for Evidently
        with _quiet_stdout(args):
            service.build_reports(summaries)
    for line in errors:
        _err(f"driftline: {line}")
    if retry:
        return 3  # the store: a retry may succeed
    if busy:
        return 4  # another caller is running this window
    return 1 if errors else _failed(summaries, args.fail_on)


def _emit(summaries: Sequence[RunSummary], as_json: bool, quiet: bool = False) -> None:
    from monitor.cli_table import print_summary

    if as_json:
        print(json.dumps([s.model_dump(mode="json") for s in summaries], indent=2))
    elif not quiet:
        for s in summaries:
            print_summary(s)


def cmd_backfill(args: argparse.Namespace) -> int:
    from monitor.cli_ops import backfill

    with _quiet_stdout(args):
        out, failed = backfill(args, _configs(args))
    if args.json:
        _emit(out, True)
    return 1 if failed else _failed(out, args.fail_on)


def cmd_outbox(args: argparse.Namespace) -> int:
    from monitor.cli_ops import outbox

    return outbox(args, _configs(args))


def cmd_silence(args: argparse.Namespace) -> int:
    from monitor.cli_ops import silence

    return silence(args, _configs(args))


def cmd_ack(args: argparse.Namespace) -> int:
    from monitor.cli_ops import ack

    return ack(args, _configs(args))


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return "unknown"


def _duration(text: str) -> timedelta:
    from monitor.config.common import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_refresh(args: argparse.Namespace) -> int:
    from monitor.api import wiring as service

    configs = _configs(args)
    chosen = {args.model: configs[args.model]} if args.model else configs
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        refreshed = service.refresh(chosen, start=args.start, end=args.end)
    if not args.json:
        _err(f"refresh: {len(refreshed)} window(s) re-scored")
    _emit(refreshed, args.json)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from monitor.api import wiring as service
    from monitor.pipeline.ingest import ingest

    configs = _configs(args)
    if args.model is None and len(configs) > 1:
        raise DriftlineError(f"several models are configured; choose one with --model ({sorted(configs)})")
    cfg = configs[args.model] if args.model else next(iter(configs.values()))
    from monitor.api import forward
    from monitor.progress import progress, rows_in, wanted

    show = wanted(args.quiet)
    total = rows_in(args.file) if show else None
    if url := forward.service_holding({cfg.model: cfg}, cfg.model):  # `serve` holds the DuckDB file: it loads it
        answer, failure = forward.ingest(url, cfg.model, args.target, args.file)
    else:
        with progress(f"ingest {args.file.name}", total, unit="rows", enabled=show) as advance:
            report = ingest(service.open_store(cfg), cfg, args.target, args.file, progress=advance)
        answer, failure = report.as_dict(), report.failure(args.max_rejected_share)
    if not args.quiet or args.json:
        print(json.dumps(answer, indent=2))
    if failure:
        _err(f"driftline ingest: {failure}")
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from monitor.api import wiring as service
    from monitor.pipeline.models import check_models

    configs = _configs(args)
    lines = check_models({m: c for m, c in configs.items() if not args.model or m == args.model}, service.open_store)
    for line in lines:
        print(line)
    if not lines:
        print(f"ok: {', '.join(sorted(configs))}")
    return 1 if lines else 0


def cmd_init(args: argparse.Namespace) -> int:
    from monitor.api import wiring as service

    for cfg in _configs(args).values():
        service.open_store(cfg).init()
        print(f"{cfg.model}: store ready ({cfg.store.kind})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from monitor.api import forward
    from monitor.config import Settings

    forward.serve(Settings(config_dir=str(args.config_dir), auth_mode=args.auth,
                           public_url=f"http://{args.host}:{args.port}"), args.host, args.port)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.cli_table import print_summary
    from monitor.demo.walkthrough import run_demo

    # With --json, stdout carries only the JSON array: progress and console alerts go to stderr.
    with _quiet_stdout(args):
        quiet = args.quiet or args.json
        summaries = run_demo(Path(args.dir), scenario=args.scenario, days=args.days, per_day=args.per_day,
                             progress=_err if args.json else (lambda _m: None) if args.quiet else print,
                             show=None if quiet else print_summary)
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in summaries]))
    elif not args.quiet:
        print(f"\nOpen the report:  driftline serve --config-dir {args.dir}  then  http://127.0.0.1:8000/")
    return _failed(summaries, args.fail_on)


EPILOG = """exit status:
  0  done (and nothing that --fail-on names was found)
  1  --fail-on drift|alert was given and a run found drift or raised an alert, or a model's run
     (or a backfill's window) failed
  2  usage or config error (a bad flag, an invalid model config)
  3  the store is unavailable or a configured table is missing (worth retrying)
  4  run: another caller is running the same window; its result will be stored (retry in a minute)"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("driftline")
    except PackageNotFoundError:  # a source checkout that was not pip-installed
        return "0.1.0"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="driftline", description="Drift and performance monitoring for ML models.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"driftline {_version()}")
    p.add_argument("-v", "--verbose", action="store_true", help="log what each step does (to stderr)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors and --json output (console alerts included; other channels still send)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        # SUPPRESS: given after the subcommand they set the flag; absent, they keep the top-level value.
        sp.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log what each step does (to stderr)")
        sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="print only errors and --json output; no progress bar")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        common(sp)
        return sp

    def with_configs(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config-dir", type=Path, default=Path("config"), metavar="DIR",
                        help="folder of model *.yaml configs (default: ./config)")
        sp.add_argument("--model", metavar="NAME", help="only this model (default: every configured model)")

    def fail_on(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--fail-on", choices=["drift", "alert"], default=None,
                        help="exit 1 if any run finds drift (any feature, or dataset drift) or raises an alert; "
                             "for gating a CI job")

    def as_json(sp: argparse.ArgumentParser, what: str) -> None:
        sp.add_argument("--json", action="store_true",
                        help=f"print {what} on stdout and nothing else (alerts and progress go to stderr)")

    d = add("demo", "simulate a week of wheel-assembly traffic and monitor it")
    d.add_argument("--dir", default="./driftline-demo", metavar="DIR",
                   help="where to write the demo's config, DuckDB file and reports (default: ./driftline-demo)")
    as_json(d, "the run summaries as one JSON array")
    d.add_argument("--scenario", default="new_tire_batch", choices=sorted(SCENARIOS),
                   help="what happens to the traffic during the week (default: new_tire_batch)")
    d.add_argument("--days", type=int, default=7, help="days of traffic, one window each (default: 7)")
    d.add_argument("--per-day", type=int, default=2000, metavar="N", help="predictions logged per day (default: 2000)")
    fail_on(d)
    d.set_defaults(func=cmd_demo)
    r = add("run", "run the latest window (or the one ending at or before --at)")
    with_configs(r)
    r.add_argument("--at", type=_when, metavar="TIME",
                   help="run the window ending at or before this ISO 8601 time, UTC unless it has an offset "
                        "(default: now)")
    as_json(r, "the run summaries as one JSON array")
    fail_on(r)
    r.add_argument("--reports", action="store_true", help="build Evidently's report now, after the summaries "
                   "(by default: when its page is first opened, so the run never waits for it)")
    r.add_argument("--dry-run", action="store_true",
                   help="print the bytes each run would process (BigQuery dry-run jobs); run, store and send nothing")
    r.set_defaults(func=cmd_run)
    b = add("backfill", "run every window between --from and --to, printing each as it finishes")
    with_configs(b)
    b.add_argument("--from", dest="start", type=_when, required=True, metavar="TIME",
                   help="start of the first window (ISO 8601, e.g. 2026-11-16T00:00Z)")
    b.add_argument("--to", dest="end", type=_when, required=True, metavar="TIME",
                   help="windows ending at or before this time are run (ISO 8601)")
    as_json(b, "every run summary as one JSON array, at the end")
    fail_on(b)
    b.add_argument("--notify", action="store_true",
                   help="send alerts through the live channels (by default history is stored, nothing is sent)")
    b.add_argument("--reports", action="store_true",
                   help="build Evidently's report of every window (by default a backfill builds none)")
    b.set_defaults(func=cmd_backfill)
    o = add("outbox", "alerts given up on (bad credentials, ...): list them, or re-queue and send them")
    o.add_argument("action", choices=["list", "retry"], help="list the failed deliveries, or retry them now")
    with_configs(o)
    o.add_argument("--channel", help="only this channel (slack, sms, pagerduty, webhook, ...)")
    o.set_defaults(func=cmd_outbox)
    f = add("refresh", "re-score stored windows whose labels changed, and alert on them")
    with_configs(f)
    f.add_argument("--from", dest="start", type=_when, metavar="TIME",
                   help="windows starting at or after this time (ISO 8601; default: the recent ones)")
    f.add_argument("--to", dest="end", type=_when, metavar="TIME", help="windows ending at or before this time")
    as_json(f, "the re-scored run summaries as one JSON array")
    f.set_defaults(func=cmd_refresh)
    i = add("ingest", "load a CSV or Parquet file, validating every row")
    with_configs(i)
    i.add_argument("target", choices=["predictions", "labels", "reference"], help="which table the file goes to")
    i.add_argument("file", type=Path, help="a .csv or .parquet file")
    as_json(i, "the ingest report as JSON (printed by default unless --quiet)")
    i.add_argument("--max-rejected-share", type=float, default=defaults.MAX_REJECTED_SHARE, metavar="SHARE",
                   help=f"exit 1 when more of the file's rows are rejected ({defaults.MAX_REJECTED_SHARE:.0%})")
    i.set_defaults(func=cmd_ingest)
    c = add("check", "check each model's config against its store (exit 1 on any problem)")
    with_configs(c)
    c.set_defaults(func=cmd_check)
    n = add("init", "create the store's tables (safe to run twice)")
    with_configs(n)
    n.set_defaults(func=cmd_init)
    sl = add("silence", "mute alerts of a model for a while, with a reason (add, list, expire)")
    actions = sl.add_subparsers(dest="action", required=True)
    sa = actions.add_parser("add", help="silence a model, or one rule or feature of it")
    with_configs(sa)
    sa.add_argument("--rule", default="", help="only this rule (e.g. feature_drift)")
    sa.add_argument("--feature", default="", help="only this feature (or a rule's subject)")
    sa.add_argument("--for", dest="duration", type=_duration, required=True, help="e.g. 3d, 6h")
    sa.add_argument("--reason", required=True, help="why: shown on the page and in the log")
    sa.add_argument("--by", default=_user(), help="who is silencing (shown on the page)")
    sls = actions.add_parser("list", help="the model's active silences")
    with_configs(sls)
    sls.add_argument("--all", action="store_true", help="include ended silences")
    se = actions.add_parser("expire", help="end a silence now")
    with_configs(se)
    se.add_argument("id", help="the silence id (from `silence list`)")
    sl.set_defaults(func=cmd_silence)
    a = add("ack", "acknowledge an open incident: no more reminders, it still resolves")
    with_configs(a)
    a.add_argument("--rule", required=True, help="the incident's rule (e.g. feature_drift)")
    a.add_argument("--subject", help="needed when the rule has several open incidents")
    a.add_argument("--by", default=_user(), help="who acknowledges (shown on the page)")
    a.set_defaults(func=cmd_ack)
    s = add("serve", "serve the API, the overview at / and the /report pages")
    s.add_argument("--config-dir", type=Path, default=Path("config"), metavar="DIR",
                   help="folder of model *.yaml configs (default: ./config)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    s.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    s.add_argument("--auth", default="local-open", choices=["local-open", "local-token", "google"],
                   help="who may call: anyone local, a bearer token, or Google-signed identity tokens "
                        "(default: local-open)")
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    level = logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except StoreError as exc:
        _err(f"driftline: {type(exc).__name__}: {exc}")
        return 3
    except DriftlineError as exc:
        _err(f"driftline: {type(exc).__name__}: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("driftline: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
