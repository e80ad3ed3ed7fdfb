"""Spacecast's command line: the entry point that wires pipeline, workers, api and infra."""
