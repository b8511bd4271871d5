"""leadflow's common code: settings, logging, events, Kafka and DB plumbing, metrics, pure domain."""

import zoneinfo as _zoneinfo

# Time zones come from the pinned tzdata wheel only, never from the host's zoneinfo files, so
# that which zones exist, and their rules, are the same on every machine and in the image.
# Every service and the CLI import ``shared`` before they name a zone.
_zoneinfo.reset_tzpath(to=())
