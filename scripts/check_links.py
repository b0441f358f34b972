#!/usr/bin/env python3
"""Checks the relative links of every Markdown file of the repository; exits 1 listing the broken.

Every `*.md` under the repository root (skipping .git, node_modules and every target/ directory)
is read, and each link it makes is checked:

* a relative link (`docs/testing.md`, `../SECURITY.md`, `/schemas/events`) must name a file or
  directory that exists (a leading `/` is the repository root, as on GitHub);
* an anchor (`#the-waiting-room`, `docs/testing.md#faults`) into a Markdown file must name one of
  its headings, slugged as GitHub does (lowercase; every character that is not a letter, mark,
  digit, connector such as `_`, space or hyphen removed; spaces to hyphens; a repeated heading
  gets `-1`, `-2`, ...), or an explicit `<a name>`/`id` anchor in it;
* external links (`http:`, `https:`, `mailto:`, ...) are not fetched: the CI machine is offline.

Links are inline (`[text](target)`, images too), reference definitions (`[ref]: target`) and
HTML `href`/`src` attributes; fenced code blocks and inline code spans are not links.

Usage: scripts/check_links.py [ROOT]   (default: the repository this script is in)
"""
import pathlib
import re
import sys
import unicodedata
import urllib.parse

SKIP_DIRS = {".git", "node_modules", "target"}
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SETEXT_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) or ![alt](target), target optionally in <>, optionally followed by a title.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
                         r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:name|id)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files(root):
    for path in sorted(root.rglob("*.md")):
        if not SKIP_DIRS.intersection(path.relative_to(root).parts[:-1]):
            yield path


def prose_lines(text):
    """(line number, line) of every line outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
            continue
        if fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) \
                    and not line.strip()[len(match.group(1)):].strip():
                fence = None
            continue
        yield number, line


def heading_text(raw):
    """The text GitHub renders for a heading's Markdown: code spans as their content, links and
    images as their text, without HTML tags or emphasis markers (outside code spans)."""
    parts = []
    for i, piece in enumerate(re.split(r"(`+.+?`+)", raw)):
        if i % 2:  # a code span: its content, verbatim
            parts.append(piece.strip("`").strip())
            continue
        piece = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", piece)
        piece = re.sub(r"<[^>]+>", "", piece)
        piece = re.sub(r"\*{1,3}|(?<!\w)_{1,3}|_{1,3}(?!\w)", "", piece)
        parts.append(piece)
    return "".join(parts).strip()


def slug(text):
    """GitHub's anchor for a heading's rendered text (before de-duplication)."""
    kept = []
    for ch in text.lower():
        category = unicodedata.category(ch)
        if ch in " -" or category[0] in "LMN" or category == "Pc":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def anchors_of(path, cache={}):
    """Every anchor a Markdown file defines: its headings' slugs, de-duplicated as GitHub does,
    and explicit HTML anchors."""
    if path in cache:
        return cache[path]
    text = path.read_text(encoding="utf-8")
    anchors, seen = set(), {}
    previous = None
    for _, line in prose_lines(text):
        heading = None
        match = ATX_HEADING.match(line)
        if match:
            heading = match.group(2)
        elif previous and previous.strip() and SETEXT_UNDERLINE.match(line) \
                and not ATX_HEADING.match(previous) and not previous.lstrip().startswith(("-", "*", ">", "|")):
            heading = previous.strip()
        if heading is not None:
            base = slug(heading_text(heading))
            count = seen.get(base, 0)
            seen[base] = count + 1
            anchors.add(base if count == 0 else f"{base}-{count}")
        anchors.update(m.group(1) for m in HTML_ANCHOR.finditer(line))
        previous = line
    cache[path] = anchors
    return anchors


def links_of(text):
    """(line number, target) of every link of a Markdown text."""
    for number, line in prose_lines(text):
        definition = REFERENCE_DEF.match(line)
        if definition:
            yield number, definition.group(1)
            continue
        line = INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)
        for match in INLINE_LINK.finditer(line):
            yield number, match.group(1)
        for match in HTML_LINK.finditer(line):
            yield number, match.group(1)


def check(root, source, target):
    """Why `target`, linked from `source`, does not resolve; None when it does."""
    target = target.strip()
    if target.startswith("<") and target.endswith(">"):
        target = target[1:-1]
    if not target or SCHEME.match(target) or target.startswith("//"):
        return None  # external: not fetched
    path_part, _, anchor = target.partition("#")
    path_part = urllib.parse.unquote(path_part.split("?", 1)[0])
    if not path_part:
        resolved = source
    elif path_part.startswith("/"):
        resolved = root / path_part.lstrip("/")
    else:
        resolved = source.parent / path_part
    try:
        normalized = resolved.resolve()
        normalized.relative_to(root)
    except ValueError:
        return "points outside the repository"
    if not normalized.exists():
        return "no such file or directory"
    if anchor and normalized.is_file() and normalized.suffix.lower() == ".md":
        anchor = urllib.parse.unquote(anchor)
        if anchor not in anchors_of(normalized) and anchor.lower() not in anchors_of(normalized):
            return f"no heading with the anchor #{anchor} in {normalized.relative_to(root)}"
    return None


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent)
    root = root.resolve()
    files = list(markdown_files(root))
    broken, links = [], 0
    for source in files:
        for number, target in links_of(source.read_text(encoding="utf-8")):
            links += 1
            reason = check(root, source, target)
            if reason:
                broken.append(f"{source.relative_to(root)}:{number}: {target}: {reason}")
    for line in broken:
        print("BROKEN", line, file=sys.stderr)
    print(f"check_links: {len(files)} Markdown files, {links} links, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
