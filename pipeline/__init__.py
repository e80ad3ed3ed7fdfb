"""Audio and domain logic of Spacecast: probe, mix, loudness, transcription, transcripts, feeds.

Functions here take paths and values and return values. They know nothing about where files are
stored, how work is queued or how it is served, and import no web, queue, storage or database
framework.
"""
