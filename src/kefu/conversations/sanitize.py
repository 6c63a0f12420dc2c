"""The allow-list rich messages are cleaned with before they are stored."""

from __future__ import annotations

import nh3

TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "s",
    "br",
    "p",
    "div",
    "span",
    "font",
    "a",
    "img",
    "ul",
    "ol",
    "li",
    "blockquote",
    "code",
    "pre",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "font": {"color", "size", "face"},
    "span": {"style"},
    "p": {"style"},
    "div": {"style"},
}
STYLES = {
    "color",
    "background-color",
    "font-size",
    "font-weight",
    "font-style",
    "font-family",
    "text-decoration",
}


def clean_rich(html: str) -> str:
    """HTML with only formatting left: no scripts, no event handlers, no javascript: links."""
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        filter_style_properties=STYLES,
        link_rel="noopener noreferrer nofollow",
    )
