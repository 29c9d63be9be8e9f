#!/usr/bin/env python3
"""Check the relative links and #anchors of the Markdown docs.

Every relative link in README.md, CONTRIBUTING.md, CHANGELOG.md and docs/*.md must name a file or
directory that exists, and an ``#anchor`` must name a heading of the target Markdown file (slugs as
GitHub makes them: lower case, punctuation dropped, spaces to ``-``, ``-1``, ``-2`` for repeats) or
an explicit ``<a id="...">``. External http(s) links are listed, never fetched.

    python3 scripts/check_links.py [--root DIR] [--quiet] [FILE ...]

Exits 1 and lists the broken links when there are any. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

DEFAULT_FILES = ("README.md", "CONTRIBUTING.md", "CHANGELOG.md", "docs/*.md")

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
_HTML_ANCHOR = re.compile(r"<a\s[^>]*\b(?:id|name)=[\"']([^\"']+)[\"']", re.IGNORECASE)
_HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*\b(?:href|src)=[\"']([^\"']+)[\"']", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str


def github_slug(heading: str) -> str:
    """Return the anchor GitHub gives a heading: its text lower-cased, punctuation dropped, spaces to ``-``."""
    text = _INLINE_LINK.sub(lambda m: re.sub(r"^!?\[|\]\(.*$", "", m.group(0)), heading)
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML renders no text of its own
    text = text.replace("`", "").lower()
    kept = [c for c in text if c in "-_ " or unicodedata.category(c)[0] in "LMN"]
    return "".join(kept).replace(" ", "-")


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """Return ``(line number, line)`` for the lines outside fenced code blocks."""
    lines: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
        else:
            lines.append((number, line))
    return lines


def anchors_of(path: Path) -> set[str]:
    """Return every anchor a link may name in the Markdown file ``path``."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        anchors.update(_HTML_ANCHOR.findall(line))
        match = _HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def links_of(path: Path) -> list[Link]:
    """Return the links of the Markdown file ``path``, leaving out code blocks and code spans."""
    links: list[Link] = []
    for number, line in _prose_lines(path.read_text(encoding="utf-8")):
        prose = _CODE_SPAN.sub("", line)
        targets = [m.group(1) for m in _INLINE_LINK.finditer(prose)]
        targets += [m.group(1) for m in _REFERENCE_DEF.finditer(prose)]
        targets += _HTML_LINK.findall(prose)
        links += [Link(path, number, t[1:-1] if t.startswith("<") else t) for t in targets]
    return links


def check(files: list[Path], root: Path) -> tuple[list[str], list[str]]:
    """Return ``(broken, external)``: a line per broken link, and a line per external link."""
    broken: list[str] = []
    external: list[str] = []
    anchor_cache: dict[Path, set[str]] = {}
    for source in files:
        for link in links_of(source):
            where = f"{source.relative_to(root)}:{link.line}"
            if _SCHEME.match(link.target):
                if link.target.startswith(("http://", "https://")):
                    external.append(f"{where}: {link.target}")
                continue  # mailto: and the like name no file
            path_part, _, anchor = link.target.partition("#")
            target = (source.parent / unquote(path_part)).resolve() if path_part else source.resolve()
            if not target.exists():
                broken.append(f"{where}: {link.target} (no such file: {path_part})")
                continue
            if not anchor:
                continue
            if target.is_dir() or target.suffix.lower() != ".md":
                broken.append(f"{where}: {link.target} (an anchor into a file that is not Markdown)")
                continue
            if target not in anchor_cache:
                anchor_cache[target] = anchors_of(target)
            if unquote(anchor) not in anchor_cache[target]:
                broken.append(f"{where}: {link.target} (no heading #{anchor} in {target.relative_to(root)})")
    return broken, external


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help=f"Markdown files (default: {' '.join(DEFAULT_FILES)})")
    parser.add_argument("--root", default=Path(__file__).resolve().parent.parent, type=Path)
    parser.add_argument("--quiet", action="store_true", help="do not list the external links")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.files:
        files = [(root / f).resolve() for f in args.files]
    else:
        files = sorted({p.resolve() for pattern in DEFAULT_FILES for p in root.glob(pattern)})
    missing = [f for f in files if not f.is_file()]
    if missing:
        print("no such Markdown file: " + ", ".join(map(str, missing)), file=sys.stderr)
        return 2
    broken, external = check(files, root)
    if external and not args.quiet:
        print(f"{len(external)} external links (not fetched):")
        print("\n".join(f"  {line}" for line in external))
    if broken:
        print(f"{len(broken)} broken links:", file=sys.stderr)
        print("\n".join(f"  {line}" for line in broken), file=sys.stderr)
        return 1
    print(f"links ok: {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
