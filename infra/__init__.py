"""Adapters: settings, S3 storage, the database, and the embedded services of the demo."""
