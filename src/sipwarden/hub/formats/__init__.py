"""Feed formats: one Protocol (`FeedFormat`), listed in one place (`FORMATS`)."""

from __future__ import annotations

from typing import Final

from sipwarden.hub.formats.base import FeedData, FeedFormat
from sipwarden.hub.formats.firewall import Ip6tablesFormat, IpsetFormat, IptablesFormat, NftFormat
from sipwarden.hub.formats.pbx import AsteriskFormat, KamailioFormat
from sipwarden.hub.formats.stix import StixFormat
from sipwarden.hub.formats.text import CsvFormat, JsonFormat, PlainFormat, listing_dict

#: Every feed format by its `?format=` name (STYLE.md, practice 5: plugins listed in one place).
FORMATS: Final[dict[str, FeedFormat]] = {
    f.name: f
    for f in (
        PlainFormat(),
        JsonFormat(),
        CsvFormat(),
        NftFormat(),
        IpsetFormat(),
        IptablesFormat(),
        Ip6tablesFormat(),
        KamailioFormat(),
        AsteriskFormat(),
        StixFormat(),
    )
}

__all__ = ["FORMATS", "FeedData", "FeedFormat", "listing_dict"]
