"""Every default a user can change, in one place: the config models, the rooms and the docs quote these."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

# window:
MIN_ROWS = 200  # fewer valid values than this in a window (or the reference) is "insufficient data"
# A window is profiled as the merge of per-bucket partial profiles kept in state: each run scans only the
# buckets that are new or changed (monitor/pipeline/profiles.py). null: profile the whole window each run.
PROFILE_BUCKET = "1h"
# BigQuery predictions tables `driftline init` creates: partitioned by the hour, so an hourly run reads one
# hour's partition, and each hour's partition metadata says whether it changed (docs/bigquery.md). "day" keeps
# the earlier layout for new tables; an existing table's layout is never changed. Hour partitions expire after
# 150 days (3,600 partitions: under BigQuery's per-table partition limit, 4,000 when this was written).
BIGQUERY_PARTITIONING: Literal["hour", "day"] = "hour"
BIGQUERY_HOUR_PARTITION_EXPIRATION_DAYS = 150
LABEL_TIME = "labelled_at"  # labels: when a label arrived (the labels table's partition column)
# drift:
FDR = 0.01  # Benjamini-Hochberg level across one run's tests: the false-alarm budget
# data quality (monitor/quality.py): each rule's level, apart from the drift budget so either moves alone;
# 1%, as drift: a data-quality problem pages someone too.
QUALITY_ALPHA = 0.01
DRIFT_SHARE = 0.5  # dataset drift when at least this share of the features drifts
STATISTIC = {"numerical": "wasserstein", "categorical": "jensenshannon"}
# The spread test's floor, on |log(dispersion ratio)|: 0.025 is about a 1.03x scale change once binned.
SPREAD_FLOOR = 0.025
# Rate floors (monitor/drift/rates.py; docs/drift-decisions.md 2c). A share p (a binary flag's rate, a
# category's share, a numerical column's share of zeros) has changed enough to matter when it moved by
# more than the smaller of RATE_POINTS and RATE_RELATIVE * min(p, 1 - p), never less than RATE_MINIMUM:
# - 2.5 points: a 2-point move of a 60% category is noise a person would not be paged for (the JS floor
#   already let it pass), a 3-point move of it is not;
# - 10% relative: "a rate of 0.10 becoming 0.12 matters" (20%) is above it, so a rare flag's 30-50%
#   rise is caught long before it is 2.5 points;
# - 0.2 points: below that a rare cell's change is under one row in 500, smaller than anyone acts on.
RATE_POINTS = 0.025
RATE_RELATIVE = 0.10
RATE_MINIMUM = 0.002
NEW_VALUES_SHARE = 0.005  # values the reference never had: more than 0.5% of the rows is a change
# A count's rate (its mean): 3% relative. For a Poisson rate of 3 that is 0.052 std, the size of the
# 0.055 std location floor (so the rate and the location speak of the same change); a 7% move of a count's
# rate (orders per session, items per basket) is a change a person would call real.
MEAN_RELATIVE = 0.03
# A zero share's absolute floor: 1 point, not RATE_POINTS. A numerical column's share of exact zeros moving
# is most often a pipeline fault (a default filled in for a missing value, a join that stopped matching),
# which a person wants to hear of at a point, where a category's share drifting 2 points is ordinary noise.
ZEROS_POINTS = 0.01
# The rate tests (shares, zeros, a count's rate) are intersection-union tests: significant against no change
# at the run's budget (BH) AND beyond the floor at FLOOR_ALPHA, i.e. 98% sure the change exceeds its floor.
# One cell changed exactly by its floor is flagged at most 2% of the time (per cell); 0.02 keeps issue 5's below-floor change
# (a 60% category losing 2 points against its 2.5-point floor) at <= 1% of runs at 2,000-50,000 rows.
FLOOR_ALPHA = 0.02
ZERO_INFLATED_SHARE = 0.10  # a numerical column with at least this share of exact zeros gets the zero-share test
MIN_EXPECTED = 10  # a share is tested on its own when the window should hold >= 10 of it (normal regime)
# How a column's share of the run's level is split between its tests (weighted Bonferroni), per kind:
# the distance keeps most where it is the only test that sees shape changes.
TEST_WEIGHTS = {
    "continuous": {"location": 0.8, "spread": 0.2},
    "count": {"location": 0.45, "spread": 0.15, "rate": 0.4},
    "zero_inflated": {"location": 0.45, "spread": 0.15, "zeros": 0.4},
    "zero_inflated_count": {"location": 0.3, "spread": 0.1, "rate": 0.3, "zeros": 0.3},
    "binary": {"location": 0.2, "shares": 0.8},
    "categorical": {"location": 0.4, "shares": 0.6},
}
BINS = 20  # reference quantile bins per numerical feature
# BigQuery: exact reference edges up to this many reference rows, APPROX_QUANTILES above (docs/bigquery.md)
EXACT_EDGE_ROWS = 1_000_000
ON_DEMAND_USD_PER_TIB = 6.25  # BigQuery on-demand query price: the run page's cost estimate
TOP_K = 20  # reference categories kept per categorical feature
AUC_FLOOR = 0.55  # the domain classifier flags the joint distribution only above this AUC
# performance:
CONFIDENCE = 0.95
MIN_COVERAGE = 0.5  # below this share of labels a window's performance is "not yet known"
MIN_LABELLED = 30  # ... and below this many labels too
COMPLETE_COVERAGE = 1.0  # at or above this share of labels the value is final
TOLERANCE = 0.02  # the practical floor of a metric that FLOORS does not name
# A drop is called only when the window is worse than the reference by more than the metric's floor,
# tested with both sampling errors; "_important" names the important class's metric (recall_0 when
# prediction.important_class is 0). Absolute amounts on the metric's scale.
FLOORS = {"accuracy": 0.02, "balanced_accuracy": 0.03, "roc_auc": 0.02, "brier": 0.01,
          "recall_important": 0.05, "precision_important": 0.05, "f1_important": 0.05,
          "pr_auc_important": 0.05}
RESAMPLES = 1000  # bootstrap replicates of the performance intervals
REFRESH_WINDOWS = 14  # how many past windows a run re-checks for late labels
SCORE_BINS = 200  # probability histogram bins of the performance counts
# above this share of a window's rows whose logged class is not the threshold's: a data-quality problem
SERVED_DISAGREEMENT = 0.005
# alert channels:
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"  # PagerDuty Events API v2
HTTP_CHANNEL_TIMEOUT = 10.0  # seconds, per request of the PagerDuty and webhook channels
# volume (monitor/pipeline/volume.py):
VOLUME_HISTORY = 7  # recent non-empty windows whose median row count is the expected volume
VOLUME_MIN_HISTORY = 3  # ... once at least this many exist (else the reference's rate, if it has timestamps)
# ingest:
MAX_REJECTED_SHARE = 0.1  # `driftline ingest` exits non-zero when more of a file's rows than this are rejected
# one run per window, nothing lost or twice (monitor/pipeline/lease.py, alerts/outbox.py; docs/reliability.md):
WINDOW_GRACE = "15m"  # a window is run only this long after its end, so late logs still count
WINDOW_EVERY: str | None = None  # window.every: null = the length (windows side by side, as before)
LEASE_TTL = "30m"  # a (model, window) lease left by a killed run is taken over after this
LEASE_WAIT = 5.0  # seconds a second caller waits for the running run's result before answering "in progress"
OUTBOX_MAX_AGE = timedelta(hours=96)  # from a row's creation: outlives a 3-day outage of a sink (a long weekend)
METRICS_MAX_AGE = timedelta(hours=24)  # Cloud Monitoring refuses points older than 25 h
OUTBOX_CLAIM_TTL = timedelta(minutes=5)  # a row claimed by a sender that died is tried again after this
OUTBOX_RETENTION = timedelta(days=30)  # delivered and failed outbox rows are pruned after this
# API (monitor/api/app.py): /runs pages through at most this many runs per model (each page reads
# limit + offset rows per model, so an unbounded offset would be an unbounded scan, or an integer overflow).
MAX_RUNS_OFFSET = 100_000
# store (DuckDB): with no store.memory_limit, DuckDB's limit is what a run needs, not what the machine has.
# DuckDB keeps every block it has read cached up to its limit, so a run process's peak RSS is about its
# imports (~300 MB: pandas, pyarrow, scipy, scikit-learn) plus that limit: a limit of half the machine
# (the default before) let a 1M-row run peak at 604 MB, a lean one keeps it under 500 MB (docs/scale.md).
# What outgrows the limit (a label join's hash table, a sort) spills to store.temp_directory (default
# <path>.spill) instead of failing. What cannot spill is a scan's own pins: one 256 KB block of each
# column's data and of its validity mask in every thread, so the limit grows with the widest model's
# columns and DuckDB's threads (200 features on 2 threads failed below 256 MB; after the profile gained a
# finite copy of each numeric column, 1M x 200 failed at 0.5 MB a column (304 MB) and passes at 0.75: 408 MB).
DUCKDB_BASE_MEMORY_MB = 96  # joins, aggregates and cached blocks of a run
DUCKDB_SCAN_MB_PER_COLUMN = 0.75  # per column a scan reads, per DuckDB thread
DUCKDB_SCAN_EXTRA_COLUMNS = 8  # a model's columns beyond its features: prediction, class, label, id, ...
DUCKDB_MEMORY_SHARE = 0.5  # never above this share of the machine's memory, or of the container's (cgroup)
DUCKDB_MIN_MEMORY_MB = 64  # never below this
DUCKDB_SPILL_SUFFIX = ".spill"
# DuckDB's exact quantiles (the reference's bin edges) keep every value in memory and cannot spill: at most
# this many values (rows x columns, ~16 MB of doubles) in one query; wider references take several queries.
DUCKDB_QUANTILE_VALUES = 2_000_000
