"""BigQuery's partition metadata: what each hour partition of a window holds, read without scanning it."""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.sql.queries import Query, check_identifier

HOUR_ID = "%Y%m%d%H"  # BigQuery's partition_id of an hour partition


def hour_partitions_query(project: str, dataset: str, table: str, start: datetime, end: datetime) -> Query:
    """partition_id, total_rows, last_modified_time of the table's hour partitions meeting [start, end).

    INFORMATION_SCHEMA.PARTITIONS is a metadata view: BigQuery bills it at the 10 MB minimum, whatever
    the table's size. Hour ids (YYYYMMDDHH) sort as text, and the sentinels (__NULL__, __UNPARTITIONED__)
    sort after every digit, so the range leaves them out."""
    view = f"`{project}.{check_identifier(dataset)}.INFORMATION_SCHEMA.PARTITIONS`"
    last = end - timedelta(microseconds=1)  # the hour holding the window's last instant
    return Query(f"SELECT partition_id, total_rows, last_modified_time FROM {view} "
                 "WHERE table_name = @t AND partition_id BETWEEN @lo AND @hi ORDER BY partition_id",
                 {"t": check_identifier(table), "lo": f"{start:{HOUR_ID}}", "hi": f"{last:{HOUR_ID}}"})
