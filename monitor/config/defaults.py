"""Every default a user can change, in one place: the config models, the rooms and the docs quote these."""

from __future__ import annotations

# window:
MIN_ROWS = 200  # fewer valid values than this in a window (or the reference) is "insufficient data"
LABEL_TIME = "labelled_at"  # labels: when a label arrived (the labels table's partition column)
# drift:
FDR = 0.01  # Benjamini-Hochberg level across one run's tests: the false-alarm budget
DRIFT_SHARE = 0.5  # dataset drift when at least this share of the features drifts
STATISTIC = {"numerical": "wasserstein", "categorical": "jensenshannon"}
# The spread test's floor, on |log(dispersion ratio)|: 0.025 is about a 1.03x scale change once binned.
SPREAD_FLOOR = 0.025
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
