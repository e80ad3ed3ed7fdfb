"""Named errors whose messages a user can act on; every layer maps them to its own surface."""


class SpacecastError(Exception):
    """Base error. ``str(error)`` is a one-line message fit to show a user."""


class InvalidManifest(SpacecastError):
    """The space manifest is missing, malformed or inconsistent."""


class InvalidTrack(SpacecastError):
    """A participant's track is not usable audio (rejected by probe or limits)."""


class FFmpegFailed(SpacecastError):
    """ffmpeg or ffprobe failed or ran past its time limit."""


class LoudnessTargetMissed(SpacecastError):
    """The delivered file could not be brought within the loudness tolerance."""


class ModelUnavailable(SpacecastError):
    """The configured Whisper model cannot be found locally."""


class InvalidLanguage(SpacecastError):
    """A language tag that Whisper cannot transcribe (neither a language it knows nor auto)."""


class NothingToPublish(SpacecastError):
    """No participant may be published, so there is no episode to make."""


class TimeLimitExceeded(SpacecastError):
    """A stage ran past its time limit (a pathological or oversized input)."""


class ConsentPending(SpacecastError):
    """Publication is held until every speaker has answered the consent prompt."""


class InvalidEdit(SpacecastError):
    """An edit list does not fit the episode (the message names the offending operation)."""
