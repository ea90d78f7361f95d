"""Market code validation: ISO 3166-1 alpha-2 countries and partner editions such as AU-OPTUS."""

from __future__ import annotations

import re
import zoneinfo
from functools import cache

# ISO 3166-1 alpha-2, officially assigned codes (249), plus XK (Kosovo, user-assigned but used
# by every app store and by AWS CloudFront's geo headers).
ISO_3166_ALPHA2 = frozenset(
    [
        "AD",
        "AE",
        "AF",
        "AG",
        "AI",
        "AL",
        "AM",
        "AO",
        "AQ",
        "AR",
        "AS",
        "AT",
        "AU",
        "AW",
        "AX",
        "AZ",
        "BA",
        "BB",
        "BD",
        "BE",
        "BF",
        "BG",
        "BH",
        "BI",
        "BJ",
        "BL",
        "BM",
        "BN",
        "BO",
        "BQ",
        "BR",
        "BS",
        "BT",
        "BV",
        "BW",
        "BY",
        "BZ",
        "CA",
        "CC",
        "CD",
        "CF",
        "CG",
        "CH",
        "CI",
        "CK",
        "CL",
        "CM",
        "CN",
        "CO",
        "CR",
        "CU",
        "CV",
        "CW",
        "CX",
        "CY",
        "CZ",
        "DE",
        "DJ",
        "DK",
        "DM",
        "DO",
        "DZ",
        "EC",
        "EE",
        "EG",
        "EH",
        "ER",
        "ES",
        "ET",
        "FI",
        "FJ",
        "FK",
        "FM",
        "FO",
        "FR",
        "GA",
        "GB",
        "GD",
        "GE",
        "GF",
        "GG",
        "GH",
        "GI",
        "GL",
        "GM",
        "GN",
        "GP",
        "GQ",
        "GR",
        "GS",
        "GT",
        "GU",
        "GW",
        "GY",
        "HK",
        "HM",
        "HN",
        "HR",
        "HT",
        "HU",
        "ID",
        "IE",
        "IL",
        "IM",
        "IN",
        "IO",
        "IQ",
        "IR",
        "IS",
        "IT",
        "JE",
        "JM",
        "JO",
        "JP",
        "KE",
        "KG",
        "KH",
        "KI",
        "KM",
        "KN",
        "KP",
        "KR",
        "KW",
        "KY",
        "KZ",
        "LA",
        "LB",
        "LC",
        "LI",
        "LK",
        "LR",
        "LS",
        "LT",
        "LU",
        "LV",
        "LY",
        "MA",
        "MC",
        "MD",
        "ME",
        "MF",
        "MG",
        "MH",
        "MK",
        "ML",
        "MM",
        "MN",
        "MO",
        "MP",
        "MQ",
        "MR",
        "MS",
        "MT",
        "MU",
        "MV",
        "MW",
        "MX",
        "MY",
        "MZ",
        "NA",
        "NC",
        "NE",
        "NF",
        "NG",
        "NI",
        "NL",
        "NO",
        "NP",
        "NR",
        "NU",
        "NZ",
        "OM",
        "PA",
        "PE",
        "PF",
        "PG",
        "PH",
        "PK",
        "PL",
        "PM",
        "PN",
        "PR",
        "PS",
        "PT",
        "PW",
        "PY",
        "QA",
        "RE",
        "RO",
        "RS",
        "RU",
        "RW",
        "SA",
        "SB",
        "SC",
        "SD",
        "SE",
        "SG",
        "SH",
        "SI",
        "SJ",
        "SK",
        "SL",
        "SM",
        "SN",
        "SO",
        "SR",
        "SS",
        "ST",
        "SV",
        "SX",
        "SY",
        "SZ",
        "TC",
        "TD",
        "TF",
        "TG",
        "TH",
        "TJ",
        "TK",
        "TL",
        "TM",
        "TN",
        "TO",
        "TR",
        "TT",
        "TV",
        "TW",
        "TZ",
        "UA",
        "UG",
        "UM",
        "US",
        "UY",
        "UZ",
        "VA",
        "VC",
        "VE",
        "VG",
        "VI",
        "VN",
        "VU",
        "WF",
        "WS",
        "YE",
        "YT",
        "ZA",
        "ZM",
        "ZW",
        "XK",
    ]
)

# A partner edition is a country code, a hyphen and the partner's upper-case name (2-20 chars).
_PARTNER_EDITION = re.compile(r"^(?P<country>[A-Z]{2})-(?P<partner>[A-Z0-9]{2,20})$")
LANGUAGE_TAG_MAX = 35  # RFC 5646 asks implementations to take at least 35 characters
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def market_code_error(code: str) -> str | None:
    """Return why `code` is not a valid market code, or None when it is valid."""
    if code in ISO_3166_ALPHA2:
        return None
    match = _PARTNER_EDITION.match(code)
    if match is None:
        return (
            f"'{code}' is not a market code: use an ISO 3166-1 alpha-2 country code (e.g. DE) "
            "or a partner edition such as AU-OPTUS."
        )
    if match["country"] not in ISO_3166_ALPHA2:
        return f"'{match['country']}' in '{code}' is not an ISO 3166-1 alpha-2 country code."
    return None


# A group code: upper-case letters and digits, optionally a hyphen and a second part (EU, DACH,
# OPTUS-PARTNERS). It must not be a market code, so a group and a market never share a key in the
# `markets` shared table, whichever is created first.
_GROUP_CODE = re.compile(r"^[A-Z][A-Z0-9]{1,19}(-[A-Z0-9]{2,11})?$")


def group_code_error(code: str) -> str | None:
    """Return why `code` is not a valid market-group code, or None when it is valid."""
    if not _GROUP_CODE.match(code):
        return (
            f"'{code}' is not a group code: use 2-20 upper-case letters or digits, optionally a "
            "hyphen and a second part, e.g. EU, DACH or OPTUS-PARTNERS."
        )
    if market_code_error(code) is None:
        return f"'{code}' is a market code; a group needs a code no market can have, e.g. DACH or EU."
    return None


# Names zoneinfo lists that are no place's zone: the host's own setting ("localtime", whatever the
# machine says), the IANA placeholder "Factory" ("local time zone must be set"), and the system
# tree's alternative copies. tzdata (requirements.txt) gives the same list on every host.
_NOT_A_PLACE = frozenset({"localtime", "Factory", "posixrules", "leapseconds", "tzdata.zi"})


@cache
def _timezones() -> frozenset[str]:
    return frozenset(
        name
        for name in zoneinfo.available_timezones()
        if name not in _NOT_A_PLACE and not name.startswith(("posix/", "right/"))
    )


def timezone_names() -> list[str]:
    """Return the IANA time zone names a market may use, sorted."""
    return sorted(_timezones())


def timezone_error(name: str) -> str | None:
    """Return why `name` is not an IANA time zone, or None when it is one."""
    if name in _timezones():
        return None
    return f"'{name}' is not an IANA time zone (e.g. Europe/Berlin, Australia/Sydney, UTC)."


def language_error(tag: str) -> str | None:
    """Return why `tag` is not a BCP 47 language tag (simplified), or None."""
    if len(tag) <= LANGUAGE_TAG_MAX and _LANGUAGE.match(tag):
        return None
    return f"'{tag}' is not a language tag (e.g. en, de, pt-BR)."
