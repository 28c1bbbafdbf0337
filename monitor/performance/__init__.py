"""Model performance from counts: realized (labels in) and estimated (CBPE, before labels)."""
