"""The ingestor: market API responses -> bronze, verbatim and write-once."""
