"""The `driftline backfill`, `outbox`, `silence` and `ack` commands (kept beside monitor/cli.py, which parses them)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from monitor.cli_table import print_summary
from monitor.config import ModelConfig
from monitor.errors import DriftlineError
from monitor.pipeline.failures import RunFailure, failure
from monitor.schema.summary import RunSummary


def _err(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def backfill(args: argparse.Namespace, configs: dict[str, ModelConfig]) -> tuple[list[RunSummary], list[str]]:
    """Every window between --from and --to; a window that fails is listed and the others still run.

    Returns the summaries and one line per failed window ("model window: error"), in order.
    """
    from monitor.api import wiring as service
    from monitor.pipeline.windows import window_ends
    from monitor.progress import progress, wanted

    chosen = [c for c in configs.values() if not args.model or c.model == args.model]
    plan = []  # (config, window end), in order
    for cfg in chosen:
        plan += [(cfg, at) for at in window_ends(cfg, args.start, args.end)]  # every `window.every`
    from monitor.pipeline.profiles import prefill_models

    try:
        prefill_models(chosen, service.open_store, args.start, args.end)  # every bucket in one grouped scan
    except DriftlineError as exc:  # each window then profiles its own buckets, and fails on its own
        _err(f"driftline: backfill: the grouped profile pass failed, windows profile one by one: {exc}")
    out: list[RunSummary] = []
    failed: list[str] = []
    show = not args.json and not args.quiet
    with progress(f"backfill {len(plan)} windows", len(plan), unit="windows",
                  enabled=wanted(args.quiet or args.json)) as advance:
        for i, (cfg, at) in enumerate(plan, 1):
            window = f"{at - cfg.window.duration:%Y-%m-%d %H:%M} → {at:%Y-%m-%d %H:%M}"
            if args.verbose:
                _err(f"backfill {cfg.model}: window {i}/{len(plan)} {window}")
            failures: list[RunFailure] = []
            try:
                done = service.run({cfg.model: cfg}, at=at, notify=args.notify, failures=failures,
                                   reports="inline" if args.reports else "skip")
            except DriftlineError as exc:  # e.g. an `at` past now: that window's, not the backfill's
                done, failures = [], [failure(cfg.model, exc)]
            for f in failures:
                line = f"{cfg.model} {window}: {f.error}: {f.detail}"
                failed.append(line)
                _err(f"driftline: backfill window failed, going on: {line}")
            out += done
            if show:
                for s in done:
                    print_summary(s)  # each window's table as it finishes
            advance(1)
    if failed:
        _err(f"driftline: backfill: {len(failed)} of {len(plan)} windows failed:")
        for line in failed:
            _err(f"  {line}")
    return out, failed


def outbox(args: argparse.Namespace, configs: dict[str, ModelConfig]) -> int:
    """`driftline outbox list|retry`: the given-up alerts with their reason; re-queue and send them."""
    from monitor.api import wiring as service

    now = datetime.now(UTC)
    total = 0
    for cfg in configs.values():
        if args.model and cfg.model != args.model:
            continue
        state = service.open_store(cfg).alert_state()
        if args.action == "list":
            rows = [r for r in state.failed_deliveries(cfg.model)
                    if not args.channel or r.channel == args.channel or r.channel.startswith(args.channel + ":")]
            for r in rows:
                print(json.dumps({"model": r.model, "channel": r.channel, "rule": r.rule, "subject": r.subject,
                                  "created_at": r.created_at.isoformat(), "error": r.last_error}))
            total += len(rows)
            continue
        n = state.requeue_failed(cfg.model, args.channel, now)
        total += n
        hook = service.alert_hook(cfg, service.open_store(cfg))
        left = (getattr(hook, "flush", None) or (lambda: None))() if n else None
        failed = len((left or {}).get("failed", []))
        pending = len((left or {}).get("pending", []))
        print(f"{cfg.model}: {n} re-queued; {n - failed - pending} delivered, {pending} pending, {failed} failed again")
    if args.action == "list":
        _err(f"{total} failed deliveries")
    return 0


def _one(args: argparse.Namespace, configs: dict[str, ModelConfig]) -> ModelConfig:
    if args.model is None and len(configs) > 1:
        raise DriftlineError(f"several models are configured; choose one with --model ({sorted(configs)})")
    return configs[args.model] if args.model else next(iter(configs.values()))


def silence(args: argparse.Namespace, configs: dict[str, ModelConfig]) -> int:
    """`driftline silence add|list|expire`."""
    from monitor.api import alerting

    if args.action == "add":
        out: object = alerting.silence(_one(args, configs), duration=args.duration, reason=args.reason, by=args.by,
                                       rule=args.rule, subject=args.feature)
    elif args.action == "list":
        out = alerting.silences(_one(args, configs), include_ended=args.all)
    else:
        out = alerting.expire(configs, args.id)
        if out is None:
            raise DriftlineError(f"no silence {args.id!r}; see `driftline silence list --all`")
    print(json.dumps(out, indent=2))
    return 0


def ack(args: argparse.Namespace, configs: dict[str, ModelConfig]) -> int:
    """`driftline ack`: an open incident acknowledged (its repeats stop until it resolves)."""
    from monitor.api import alerting

    print(json.dumps(alerting.ack(_one(args, configs), args.rule, args.subject, args.by), indent=2))
    return 0
