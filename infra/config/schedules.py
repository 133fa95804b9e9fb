"""Time in the stack: cron expressions (read by a real cron parser, cronsim) and IANA time zones (zoneinfo).

KEDA's cron trigger, which `serving.workingHours` becomes, reads "Linux format cron (Minute Hour Dom Month Dow)"
(keda.sh/docs/2.17/scalers/cron, read 2026-11-30): five fields, names such as MON-FRI, ranges, lists, steps and `?`.
cronsim also reads Quartz-style `L` and `#`, which that format does not have, so they are refused here.
"""

from __future__ import annotations

import difflib
import functools
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

_FIELDS = (("minute", "0-59"), ("hour", "0-23"), ("day-of-month", "1-31"), ("month", "1-12 or JAN-DEC"),
           ("day-of-week", "0-7 or SUN-SAT (0 and 7 are Sunday)"))
EXAMPLE = "'0 8 * * 1-5' (08:00 on weekdays)"


def cron_expression(value: str) -> str:
    """A 5-field cron expression KEDA reads; ValueError naming the field at fault and its allowed values."""
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"has {len(fields)} field(s); allowed: 5 fields, minute hour day-of-month month "
                         f"day-of-week, e.g. {EXAMPLE}")
    for (name, _), field in zip(_FIELDS, fields, strict=True):
        if "L" in field.upper().replace("JUL", "") or "#" in field:
            raise ValueError(f"{name} field {field!r} uses L or #, which KEDA's cron does not read; allowed: "
                             f"numbers, names, ranges, lists and steps, e.g. {EXAMPLE}")
    # KEDA's parser (robfig/cron) reads `?` as `*` in the two day fields (its docs' table of special characters,
    # as copied in github.com/hbh112233abc/crontab, read 2026-11-30); cronsim does not, so it is given `*`.
    checked = " ".join(f.replace("?", "*") if i in (2, 4) else f for i, f in enumerate(fields))
    try:
        CronSim(checked, datetime(2026, 1, 5))
    except CronSimError as e:
        # cronsim says "Bad hour", "Bad day-of-week": name the field's own text and its range instead.
        name, allowed = next(((n, a) for n, a in _FIELDS if n in str(e).lower()), ("", ""))
        if not name:
            raise ValueError(f"is not a cron expression ({e}); allowed: 5 fields, e.g. {EXAMPLE}") from None
        field = fields[[n for n, _ in _FIELDS].index(name)]
        what = "is out of range" if any(ch.isdigit() for ch in field) else "is not valid there"
        raise ValueError(f"{name} field {field!r} {what}; allowed: {allowed}, e.g. {EXAMPLE}") from None
    return value


@functools.cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def timezone(value: str) -> str:
    """An IANA time zone name; ValueError naming the nearest one when it is misspelt."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        guess = difflib.get_close_matches(value, _zones(), n=1, cutoff=0.75)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        raise ValueError(f"not an IANA time zone; allowed: names such as 'UTC', 'Europe/Berlin', "
                         f"'America/New_York'{hint}") from None
    return value
