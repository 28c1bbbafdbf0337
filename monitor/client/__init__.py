"""The serving-side prediction logger: importable in a model server without pandas or Evidently."""
