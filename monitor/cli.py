"""The `driftline` command: demo, run, serve, ingest, backfill, check, init."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from monitor.config import ModelConfig, Settings
from monitor.errors import ConfigError, DriftlineError
from monitor.pipeline.failures import RunFailure
from monitor.pipeline.models import load_models
from monitor.schema.summary import RunSummary


def _when(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text)  # 3.11 reads a trailing Z
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2026-11-20T00:00Z)") from None
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def _err(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def print_summary(s: RunSummary, out=sys.stdout) -> None:  # type: ignore[no-untyped-def]
    """A run as a readable table."""
    w = f"{s.window.start:%Y-%m-%d %H:%M} → {s.window.end:%Y-%m-%d %H:%M} UTC"
    print(f"\n{s.model}  {w}  rows={s.rows:,} rejected={s.rows_rejected:,}  "
          f"drift share={s.drift_share:.0%} dataset drift={'YES' if s.dataset_drift else 'no'}"
          + (f"  [{s.status}]" if s.status != "ok" else ""), file=out)
    print(f"  {'column':<16}{'statistic':<15}{'value':>9}{'threshold':>11}  verdict   data quality", file=out)
    rows = list(s.features) + [v for v in (s.prediction_drift, s.label_drift) if v is not None]
    for v in rows:
        q = s.data_quality.get(v.name)
        dq = ""
        if q is not None:
            bits = [f"{q.null_rate:.0%} null" if q.null_rate else "",
                    f"{q.out_of_range_rate:.0%} out of range" if q.out_of_range_rate else "",
                    f"{q.unseen_categories} unseen ({', '.join(q.unseen_values[:3])})" if q.unseen_categories else ""]
            dq = ", ".join(b for b in bits if b)
        verdict = "n/a" if v.status == "insufficient_data" else ("DRIFT" if v.drifted else "ok")
        value = "—" if v.value is None else f"{v.value:.3f}"
        print(f"  {v.name:<16}{v.statistic:<15}{value:>9}{v.threshold:>11.3f}  {verdict:<9} {dq}", file=out)
    for c in (s.quality or {}).get("checks", []):
        if c.get("status") == "problem":
            print(f"  data quality: {c['check']} {c['subject']}: {c.get('detail', '')}", file=out)
    mv = s.multivariate
    if mv and mv.get("auc") is not None:
        print(f"  {'joint (AUC)':<16}{'classifier':<15}{mv['auc']:>9.3f}{mv['threshold']:>11.3f}  "
              f"{'DRIFT' if mv['drifted'] else 'ok'}", file=out)
    for a in s.alerts:
        print(f"  alert [{a.severity}] {a.rule}: {a.message}", file=out)
    print(f"  report: {s.report_url}", file=out)


def _configs(args: argparse.Namespace) -> dict[str, ModelConfig]:
    from monitor.api import wiring as service

    configs = load_models(args.config_dir)
    service.register(configs)
    if getattr(args, "model", None) and args.model not in configs:
        raise ConfigError(f"unknown model {args.model!r}; configured: {sorted(configs)}")
    return configs


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.api import wiring as service

    failures: list[RunFailure] = []
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        summaries = service.run(_configs(args), at=args.at, model=args.model, failures=failures)
    _emit(summaries, args.json)
    for f in failures:
        _err(f"driftline: {f.line()}")
    return 1 if failures else 0


def _emit(summaries: Sequence[RunSummary], as_json: bool) -> None:
    if as_json:
        print(json.dumps([s.model_dump(mode="json") for s in summaries], indent=2))
    else:
        for s in summaries:
            print_summary(s)


def cmd_backfill(args: argparse.Namespace) -> int:
    from monitor.api import wiring as service

    configs = _configs(args)
    out: list[RunSummary] = []
    for cfg in configs.values():
        if args.model and cfg.model != args.model:
            continue
        step = cfg.window.duration
        at = args.start + step
        while at <= args.end:
            _err(f"backfill {cfg.model}: window ending {at:%Y-%m-%d %H:%M}")
            out += service.run({cfg.model: cfg}, at=at)
            at += step
    _emit(out, args.json)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from monitor.api import wiring as service
    from monitor.pipeline.ingest import ingest

    configs = _configs(args)
    if args.model is None and len(configs) > 1:
        raise DriftlineError(f"several models are configured; choose one with --model ({sorted(configs)})")
    cfg = configs[args.model] if args.model else next(iter(configs.values()))
    report = ingest(service.open_store(cfg), cfg, args.target, args.file)
    print(json.dumps(report.as_dict(), indent=2))
    failure = report.failure(args.max_rejected_share)
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
    import uvicorn

    from monitor.api.app import create_app

    settings = Settings(config_dir=str(args.config_dir), auth_mode=args.auth,
                        public_url=f"http://{args.host}:{args.port}")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo.walkthrough import run_demo

    # With --json, stdout carries only the JSON array: progress and console alerts go to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        summaries = run_demo(Path(args.dir), scenario=args.scenario, days=args.days, per_day=args.per_day,
                             progress=_err if args.json else print, show=None if args.json else print_summary)
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in summaries]))
    else:
        print(f"\nOpen the report:  driftline serve --config-dir {args.dir}  then  http://127.0.0.1:8000/report")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="driftline", description="Drift and performance monitoring for ML models.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    def with_configs(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config-dir", type=Path, default=Path("config"), help="folder of model *.yaml configs")
        sp.add_argument("--model", help="only this model")

    d = sub.add_parser("demo", help="simulate a week of wheel-assembly traffic and monitor it")
    d.add_argument("--dir", default="./driftline-demo")
    d.add_argument("--json", action="store_true", help="print the run summaries as one JSON array")
    from monitor.demo.simulate import SCENARIOS

    d.add_argument("--scenario", default="new_tire_batch", choices=sorted(SCENARIOS))
    d.add_argument("--days", type=int, default=7)
    d.add_argument("--per-day", type=int, default=2000)
    d.set_defaults(func=cmd_demo)
    r = sub.add_parser("run", help="run the latest window (or the one ending at or before --at)")
    with_configs(r)
    r.add_argument("--at", type=_when)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_run)
    b = sub.add_parser("backfill", help="run every window between --from and --to")
    with_configs(b)
    b.add_argument("--from", dest="start", type=_when, required=True)
    b.add_argument("--to", dest="end", type=_when, required=True)
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_backfill)
    i = sub.add_parser("ingest", help="load a CSV or Parquet file, validating every row")
    with_configs(i)
    i.add_argument("target", choices=["predictions", "labels", "reference"])
    i.add_argument("file", type=Path)
    from monitor.config.defaults import MAX_REJECTED_SHARE

    i.add_argument("--max-rejected-share", type=float, default=MAX_REJECTED_SHARE,
                   help=f"exit 1 when more of the file's rows are rejected ({MAX_REJECTED_SHARE:.0%})")
    i.set_defaults(func=cmd_ingest)
    c = sub.add_parser("check", help="check each model's config against its store (exit 1 on any problem)")
    with_configs(c)
    c.set_defaults(func=cmd_check)
    n = sub.add_parser("init", help="create the store's tables (safe to run twice)")
    with_configs(n)
    n.set_defaults(func=cmd_init)
    s = sub.add_parser("serve", help="serve the API and /report")
    s.add_argument("--config-dir", type=Path, default=Path("config"))
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--auth", default="local-open", choices=["local-open", "local-token", "google"])
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except DriftlineError as exc:
        _err(f"driftline: {type(exc).__name__}: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
