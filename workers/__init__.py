"""Dramatiq actors, one per pipeline stage: each fetches its inputs from storage, calls one
pipeline function, stores its outputs and records its state. No audio logic lives here."""
