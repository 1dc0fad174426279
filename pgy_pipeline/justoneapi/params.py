"""Request parameters of Notes Details (V1): the vendor's enums and a validated query."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

PROD_GLOBAL_BASE_URL = "https://api.justoneapi.com"
# Plain HTTP: choosing it sends the token in clear text, so the client logs a warning.
PROD_CN_BASE_URL = "http://47.117.133.51:30015"
ENDPOINT_PATH = "/api/xiaohongshu-pgy/api/solar/kol/dataV2/notesDetail/v1"

# Checked before any request so a bad id never costs a call; also keeps ids safe in file names and logs.
USER_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class AdvertiseSwitch(StrEnum):
    """advertiseSwitch: ALL notes (vendor default) or ORGANIC_ONLY (no sponsored notes)."""

    ALL = "ALL"
    ORGANIC_ONLY = "ORGANIC_ONLY"


class OrderType(StrEnum):
    """orderType: the sort order of the list; changes which note lands on which page, not which notes."""

    LATEST = "LATEST"
    MOST_READ = "MOST_READ"
    MOST_INTERACT = "MOST_INTERACT"


class NoteType(StrEnum):
    """noteType: ALL (vendor default), COOPERATION (brand deals), PHOTO_TEXT or VIDEO."""

    ALL = "ALL"
    COOPERATION = "COOPERATION"
    PHOTO_TEXT = "PHOTO_TEXT"
    VIDEO = "VIDEO"


class IsThirdPlatform(StrEnum):
    """isThirdPlatform: NO (vendor default) or YES (notes from third-party platforms)."""

    NO = "NO"
    YES = "YES"


_E = TypeVar("_E", bound=StrEnum)


def _coerce_enum(field: str, enum_type: type[_E], value: Any) -> _E:
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        try:
            return enum_type(value)
        except ValueError:
            pass
    allowed = ", ".join(member.value for member in enum_type)
    raise ValueError(f"{field} must be one of {allowed}; got {value!r}")


def validate_user_id(user_id: Any) -> str:
    """Return ``user_id`` if it is a plausible KOL id, else raise ValueError naming the field."""
    if not isinstance(user_id, str) or USER_ID_PATTERN.fullmatch(user_id) is None:
        raise ValueError(f"user_id must match ^[A-Za-z0-9_-]{{1,64}}$; got {user_id!r}")
    return user_id


def validate_page_number(page_number: Any) -> int:
    # bool is an int subclass: True would silently become page 1.
    if isinstance(page_number, bool) or not isinstance(page_number, int) or page_number < 1:
        raise ValueError(f"page_number must be an integer >= 1; got {page_number!r}")
    return page_number


@dataclass(frozen=True, slots=True, init=False)
class NotesQuery:
    """One KOL's note list with the endpoint's filters; validated on construction.

    The enum fields also accept their string values ("VIDEO"), so config from YAML or a CLI can be passed
    straight through. Every parameter is sent explicitly, so a vendor change of defaults cannot change
    what a stored page means.
    """

    user_id: str
    advertise_switch: AdvertiseSwitch = AdvertiseSwitch.ALL
    order_type: OrderType = OrderType.LATEST
    note_type: NoteType = NoteType.ALL
    is_third_platform: IsThirdPlatform = IsThirdPlatform.NO

    def __init__(
        self,
        user_id: str,
        advertise_switch: AdvertiseSwitch | str = AdvertiseSwitch.ALL,
        order_type: OrderType | str = OrderType.LATEST,
        note_type: NoteType | str = NoteType.ALL,
        is_third_platform: IsThirdPlatform | str = IsThirdPlatform.NO,
    ) -> None:
        # Hand-written so the accepted str values are part of the signature; frozen, hence __setattr__.
        object.__setattr__(self, "user_id", validate_user_id(user_id))
        object.__setattr__(
            self, "advertise_switch", _coerce_enum("advertise_switch", AdvertiseSwitch, advertise_switch)
        )
        object.__setattr__(self, "order_type", _coerce_enum("order_type", OrderType, order_type))
        object.__setattr__(self, "note_type", _coerce_enum("note_type", NoteType, note_type))
        object.__setattr__(
            self,
            "is_third_platform",
            _coerce_enum("is_third_platform", IsThirdPlatform, is_third_platform),
        )

    def to_params(self, page_number: int) -> dict[str, Any]:
        """The query string of one page, without the token; a new dict on every call."""
        return {
            "userId": self.user_id,
            "advertiseSwitch": self.advertise_switch.value,
            "orderType": self.order_type.value,
            "noteType": self.note_type.value,
            "isThirdPlatform": self.is_third_platform.value,
            "pageNumber": validate_page_number(page_number),
        }

    def filters(self) -> dict[str, str]:
        """The filters and order by their snake_case names: the run config's and the ``fetches`` columns'."""
        return {
            "advertise_switch": self.advertise_switch.value,
            "order_type": self.order_type.value,
            "note_type": self.note_type.value,
            "is_third_platform": self.is_third_platform.value,
        }

    @property
    def is_unfiltered(self) -> bool:
        """True when the query returns every note of the KOL (the order only reshuffles pages)."""
        return (
            self.advertise_switch is AdvertiseSwitch.ALL
            and self.note_type is NoteType.ALL
            and self.is_third_platform is IsThirdPlatform.NO
        )

    def fingerprint(self) -> str:
        """A short stable id of the filters and order (not the user): pages with equal fingerprints match.

        The order is included because it decides which notes a given page number holds, so a stored page
        can only be reused for a query with the same fingerprint.
        """
        canonical = (
            f"advertiseSwitch={self.advertise_switch.value}&isThirdPlatform={self.is_third_platform.value}"
            f"&noteType={self.note_type.value}&orderType={self.order_type.value}"
        )
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:12]
