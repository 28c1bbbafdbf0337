"""The BigQuery store: the client adapter, its table schemas, and the alert state in the dataset."""
