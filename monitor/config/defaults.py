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
TOP_K = 20  # reference categories kept per categorical feature
AUC_FLOOR = 0.55  # the domain classifier flags the joint distribution only above this AUC
# performance:
CONFIDENCE = 0.95
MIN_COVERAGE = 0.5  # below this share of labels a window's performance is "not yet known"
MIN_LABELLED = 30  # ... and below this many labels too
COMPLETE_COVERAGE = 1.0  # at or above this share of labels the value is final
TOLERANCE = 0.0  # a performance drop must also exceed this absolute amount
RESAMPLES = 1000  # bootstrap replicates of the performance intervals
REFRESH_WINDOWS = 14  # how many past windows a run re-checks for late labels
SCORE_BINS = 200  # probability histogram bins of the performance counts
