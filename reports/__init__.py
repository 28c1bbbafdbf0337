"""The /report pages (HTML and charts) and the Evidently report adapter."""
