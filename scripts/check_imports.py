#!/usr/bin/env python3
"""Fails when the workspace's Rust files import each other in a circle.

A file imports another when it names an item defined there: a `use` path, or a path written in
code (`crate::ids::random_hex()`), resolved to the file that defines the item. Re-exports are
followed to the defining file (`pub use store::Store` in `ports/mod.rs` sends `crate::ports::Store`
to `ports/store.rs`), and a glob re-export of a child (`pub use child::*`) likewise. Module
declarations (`mod x;`) are not imports, nor are comments, doc links, or anything inside a
`#[cfg(test)]` item (a test may reach anywhere).

Crates are checked the same way through their dependency on each other (a file of one crate that
names `tacos_core::ports::Store` imports `shared/core/src/ports/store.rs`); cargo already refuses
circles between crates.

Usage: scripts/check_imports.py [--root DIR] [--graph]   (exit 1 listing every circle)
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(source: str) -> str:
    """The source without comments, string literals and `#[cfg(test)]` items."""
    out = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if source.startswith("//", i):
            j = source.find("\n", i)
            i = n if j < 0 else j
        elif source.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if source.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif source.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', source[i:i + 10]) and not re.match(r"[A-Za-z0-9_]", source[i - 1] if i else " "):
            hashes = re.match(r'r(#*)"', source[i:]).group(1)
            end = source.find('"' + hashes, i + 2 + len(hashes))
            out.append('""')
            i = n if end < 0 else end + 1 + len(hashes)
        elif c == '"':
            j = i + 1
            while j < n and source[j] != '"':
                j += 2 if source[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", source[i:i + 4]):
            m = re.match(r"'(\\.|[^\\'])'", source[i:])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    text = "".join(out)
    return drop_test_items(text)


def drop_test_items(text: str) -> str:
    """Removes every item annotated `#[cfg(test)]` (a module, a function, a `use`)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]", text)
        if not m:
            return text
        i = m.end()
        # The item runs to its matching `}` or to its `;`, whichever comes first at depth 0.
        depth = 0
        j = i
        while j < len(text):
            ch = text[j]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    j += 1
                    break
            elif ch == ";" and depth == 0:
                j += 1
                break
            j += 1
        text = text[: m.start()] + text[j:]


class Crate:
    def __init__(self, name: str, root: Path, lib: Path):
        self.name = name  # as code names it: tacos_core
        self.root = root
        self.files: dict[tuple[str, ...], Path] = {}  # module path -> file
        self.load(lib, ())

    def load(self, file: Path, path: tuple[str, ...]) -> None:
        self.files[path] = file
        text = strip(file.read_text())
        for m in re.finditer(rf"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+({IDENT})\s*;", text):
            child = m.group(1)
            if file.name in ("lib.rs", "main.rs", "mod.rs"):
                base = file.parent
            else:
                base = file.parent / file.stem
            for candidate in (base / f"{child}.rs", base / child / "mod.rs"):
                if candidate.exists():
                    self.load(candidate, path + (child,))
                    break


def use_trees(text: str) -> list[str]:
    """Every path a `use` declaration brings in, flattened (`a::{b, c::d}` -> a::b, a::c::d)."""
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        paths.extend(expand(m.group(1).replace("\n", " ")))
    return paths


def expand(tree: str) -> list[str]:
    tree = tree.strip()
    if "{" not in tree:
        return [re.sub(r"\s+as\s+\w+$", "", tree).replace(" ", "")]
    head, rest = tree.split("{", 1)
    body = rest[: rest.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    out = []
    for part in parts:
        if part.strip():
            for sub in expand(part):
                out.append(head.strip().replace(" ", "") + sub if sub != "self" else head.strip().rstrip(":").replace(" ", ""))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=Path(__file__).resolve().parent.parent, type=Path)
    parser.add_argument("--graph", action="store_true", help="print every file's imports")
    args = parser.parse_args()
    root: Path = args.root

    workspace = tomllib.loads((root / "Cargo.toml").read_text())["workspace"]
    member_dirs = []
    for pattern in workspace["members"]:
        member_dirs.extend(sorted(root.glob(pattern)))
    crates: dict[str, Crate] = {}
    for d in member_dirs:
        manifest = d / "Cargo.toml"
        if not manifest.exists():
            continue
        package = tomllib.loads(manifest.read_text())
        name = package.get("lib", {}).get("name") or package["package"]["name"].replace("-", "_")
        lib = d / package.get("lib", {}).get("path", "src/lib.rs")
        if lib.exists():
            crates[name] = Crate(name, d, lib)
        # Binaries are leaves: nothing imports them, so they close no circle.

    # file -> {module path in its crate}
    texts: dict[Path, str] = {}
    reexports: dict[Path, dict[str, str]] = {}  # file -> name -> full path it re-exports
    globs: dict[Path, list[str]] = {}
    where: dict[Path, tuple[Crate, tuple[str, ...]]] = {}
    for crate in crates.values():
        for path, file in crate.files.items():
            text = strip(file.read_text())
            texts[file] = text
            where[file] = (crate, path)
            reexports[file] = {}
            globs[file] = []
            for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
                for p in expand(m.group(1).replace("\n", " ")):
                    original = re.split(r"\s+as\s+", m.group(1))[0]
                    name = p.rsplit("::", 1)[-1]
                    alias = re.search(rf"{re.escape(name)}\s+as\s+({IDENT})", m.group(1))
                    if name == "*":
                        globs[file].append(p[:-3])
                    else:
                        reexports[file][alias.group(1) if alias else name] = p

    def absolute(file: Path, segments: list[str]) -> tuple[Crate, list[str]] | None:
        crate, here = where[file]
        first = segments[0]
        if first == "crate":
            return crate, segments[1:]
        if first == "self":
            return crate, list(here) + segments[1:]
        if first == "super":
            base = list(here)
            while segments and segments[0] == "super":
                base = base[:-1]
                segments = segments[1:]
            return crate, base + segments
        if first in crates:
            return crates[first], segments[1:]
        # A child module of this file named without `self::` (2018 paths).
        if tuple(here) + (first,) in crate.files:
            return crate, list(here) + segments
        return None

    def resolve(crate: Crate, segments: list[str], seen: int = 0) -> Path | None:
        # The longest module prefix that is a file of the crate.
        for k in range(len(segments), -1, -1):
            module = tuple(segments[:k])
            if module in crate.files:
                file = crate.files[module]
                rest = segments[k:]
                if rest and seen < 20:
                    target = reexports[file].get(rest[0])
                    if target:
                        resolved = absolute(file, target.split("::"))
                        if resolved:
                            found = resolve(resolved[0], resolved[1] + rest[1:], seen + 1)
                            if found:
                                return found
                    for g in globs[file]:
                        resolved = absolute(file, g.split("::"))
                        if resolved:
                            c, base = resolved
                            found = resolve(c, base + rest, seen + 1)
                            if found and found != crate.files.get(tuple(base)):
                                return found
                return file
        return None

    edges: dict[Path, set[Path]] = {f: set() for f in texts}
    path_re = re.compile(rf"\b((?:crate|super|self|{'|'.join(map(re.escape, crates))})(?:::{IDENT})+)")
    for file, text in texts.items():
        names = use_trees(text)
        names += [m.group(1) for m in path_re.finditer(re.sub(r"\buse\s+[^;]+;", "", text))]
        for name in names:
            segments = [s for s in name.split("::") if s and s != "*"]
            if not segments:
                continue
            resolved = absolute(file, segments)
            if not resolved:
                continue
            target = resolve(*resolved)
            if target and target != file:
                edges[file].add(target)

    if args.graph:
        for f in sorted(edges):
            print(f.relative_to(root), "->", ", ".join(str(t.relative_to(root)) for t in sorted(edges[f])))

    circles = strongly_connected(edges)
    circles = [c for c in circles if len(c) > 1]
    if circles:
        for c in sorted(circles, key=len, reverse=True):
            files = sorted(str(f.relative_to(root)) for f in c)
            print(f"import circle of {len(files)} files:", file=sys.stderr)
            for f in files:
                inside = sorted(str(t.relative_to(root)) for t in edges[root / f] if t in c)
                print(f"  {f} -> {', '.join(inside)}", file=sys.stderr)
        print(f"check_imports: {len(circles)} circle(s)", file=sys.stderr)
        return 1
    print(f"check_imports: OK: {len(texts)} files in {len(crates)} library crates, no import circle")
    return 0


def strongly_connected(edges: dict[Path, set[Path]]) -> list[list[Path]]:
    """Tarjan's algorithm, iterative."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    on_stack: set[Path] = set()
    stack: list[Path] = []
    out: list[list[Path]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
    return out


if __name__ == "__main__":
    sys.exit(main())
