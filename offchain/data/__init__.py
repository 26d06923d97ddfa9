"""Members' local data: schemas, canonical row encoding, fingerprints, DuckDB store."""
