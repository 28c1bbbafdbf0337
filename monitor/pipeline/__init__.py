"""One run end to end: windows, reference, profile, decide, late labels, ingest; stores passed in."""
