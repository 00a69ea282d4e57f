"""Access rules of files, ISO/IEC 7816-4:2020 clause 7.4.3 in a compact form.

An access rule is a set of alternatives, any one of which grants access:

- ``always``: free access;
- ``never``: no access through the card's interface;
- ``pin``: after a successful VERIFY of the PIN in the current application;
- ``key:XX``: after a successful EXTERNAL AUTHENTICATE with key ID ``XX``
  in the current application (LD/T 32-2015: 04 UKSSSE for writing EF05/EF06,
  0A RKSSSE for reading EF06 on a 3.0 card, ...).

In a profile they are written like ``pin|key:0A``. The card keeps the
conditions it has satisfied in its volatile security status; this module only
decides whether a rule is met by such a status.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_TOKEN = re.compile(r"^(always|never|pin|key:[0-9A-Fa-f]{2})$")


@dataclass(frozen=True, slots=True)
class AccessRule:
    alternatives: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> AccessRule:
        tokens = [t.strip() for t in text.split("|")]
        for token in tokens:
            if not _TOKEN.match(token):
                raise ValueError(
                    f"unknown access condition {token!r}: use always, never, pin or key:XX"
                )
        normalised = {t if not t.startswith("key:") else "key:" + t[4:].upper() for t in tokens}
        if "always" in normalised and len(normalised) > 1:
            raise ValueError("'always' cannot be combined with other conditions")
        if "never" in normalised and len(normalised) > 1:
            raise ValueError("'never' cannot be combined with other conditions")
        return cls(frozenset(normalised))

    @classmethod
    def always(cls) -> AccessRule:
        return cls(frozenset({"always"}))

    @classmethod
    def never(cls) -> AccessRule:
        return cls(frozenset({"never"}))

    @property
    def free(self) -> bool:
        return "always" in self.alternatives

    def satisfied_by(self, status: Iterable[str]) -> bool:
        if "always" in self.alternatives:
            return True
        if "never" in self.alternatives:
            return False
        return not self.alternatives.isdisjoint(status)

    def key_ids(self) -> set[int]:
        return {int(t[4:], 16) for t in self.alternatives if t.startswith("key:")}

    def __str__(self) -> str:
        return "|".join(sorted(self.alternatives))
