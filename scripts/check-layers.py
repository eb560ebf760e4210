#!/usr/bin/env python3
"""check-layers: guard a Cargo workspace against import circles and long functions.

For every checked workspace member (see ``--help`` for which are skipped) it

1. maps each ``.rs`` file reachable through ``mod`` declarations from a target
   root (lib, bins, tests, benches) to its module path, collects the module
   paths each file references (``use`` trees, ``pub use`` re-exports, inline
   ``crate::``/``super::``/``self::`` paths, and inline paths starting with a
   child module or a name a ``use`` bound to a module; comments, string
   literals and ``#[cfg(test)]``/``#[test]`` items are ignored; declaring
   ``mod x;`` is no dependency), resolves each reference to the deepest
   existing module *file* (an item a module only re-exports with ``pub use``
   resolves to the re-export's target, see ``--no-follow-reexports``), and
   reports every strongly connected component of the file graph with more than
   ``--max-cycle`` files, with one example line per edge inside it;
2. reports every ``fn`` of non-test lib/bin code whose body (``fn`` line to
   closing brace, inclusive) spans more than ``--max-fn-lines`` lines.

Exit status: 0 when clean, 1 when a circle or long function is found, 2 on
usage/setup errors. Python 3 standard library only.
"""

import argparse
import bisect
import glob
import json
import os
import re
import sys
from collections import namedtuple

DEFAULT_SKIP = ("plugins/", "tests/fixtures/", "sdk/")
IDENT_START = re.compile(r"[A-Za-z_]")
WORD_RE = re.compile(r"\w+")
RAW_OPEN_RE = re.compile(r'(#*)"')
TEST_KINDS = ("test", "bench")

Target = namedtuple("Target", "kind name root")
UseLeaf = namedtuple("UseLeaf", "segs alias glob pos public")
PathRef = namedtuple("PathRef", "segs pos")
Function = namedtuple("Function", "name line end_line")


# --------------------------------------------------------------------------
# Lexing: blank out comments and literals, keeping offsets and newlines.
# --------------------------------------------------------------------------

def _blank(text):
    """Return ``text`` with every character but newlines replaced by a space."""
    return re.sub(r"[^\n]", " ", text)


def _skip_block_comment(src, i):
    """Return the index just past the (nested) block comment starting at ``i``."""
    depth = 0
    while i < len(src):
        if src.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif src.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return i


def _skip_string(src, i):
    """Return the index just past the escaped string whose opening quote is at ``i``."""
    i += 1
    while i < len(src) and src[i] != '"':
        i += 2 if src[i] == "\\" else 1
    return i + 1


def _raw_string_end(src, i):
    """If a raw string (``#*"``) opens at ``i`` (just after the r prefix), return its end."""
    m = RAW_OPEN_RE.match(src, i)
    if not m:
        return None
    close = '"' + m.group(1)
    end = src.find(close, m.end())
    return len(src) if end < 0 else end + len(close)


def _char_literal_end(src, i):
    """Return the end of a char literal at ``i`` (a quote), or None for a lifetime/label."""
    if src.startswith("\\", i + 1):
        end = src.find("'", i + 3)
        return len(src) if end < 0 else end + 1
    if i + 2 < len(src) and src[i + 2] == "'" and src[i + 1] != "\n":
        return i + 3
    return None


def _literal_after_ident(src, word, j):
    """Return the end of a prefixed literal (b"..", r#".."#, b'x', c"..") after ``word``."""
    if word in ("r", "br", "cr"):
        return _raw_string_end(src, j)
    if word in ("b", "c") and src.startswith('"', j):
        return _skip_string(src, j)
    if word == "b" and src.startswith("'", j):
        return _char_literal_end(src, j)
    return None


def _quoted_span(src, start, end):
    """Blank a literal's contents but keep its delimiters (so ``"..."`` stays a token)."""
    if end - start < 2:
        return src[start:end]
    return src[start] + _blank(src[start + 1:end - 1]) + src[end - 1]


def strip_comments_and_literals(src):
    """Return ``src`` with comments blanked and string/char literal contents blanked.

    Offsets and newlines are preserved, so positions map 1:1 onto the original.
    Handles nested block comments, escapes, raw strings (``r#"..."#``), byte and
    C strings, char literals (``'{'``, ``'\\''``) versus lifetimes (``'a``).
    """
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(_blank(src[i:j]))
        elif src.startswith("/*", i):
            j = _skip_block_comment(src, i)
            out.append(_blank(src[i:j]))
        elif c == '"':
            j = _skip_string(src, i)
            out.append(_quoted_span(src, i, min(j, n)))
        elif c == "'":
            j = _char_literal_end(src, i)
            out.append(_quoted_span(src, i, j) if j else c)
            j = j or i + 1
        elif IDENT_START.match(c):
            m = WORD_RE.match(src, i)
            lit_end = _literal_after_ident(src, m.group(), m.end())
            j = lit_end or m.end()
            out.append(m.group() + _quoted_span(src, m.end(), j) if lit_end else m.group())
        else:
            j = i + 1
            out.append(c)
        i = max(j, i + 1)
    return "".join(out)[:n]


# --------------------------------------------------------------------------
# Structural helpers on cleaned code
# --------------------------------------------------------------------------

OPEN, CLOSE = "([{", ")]}"


def matching_close(code, i):
    """Index of the bracket closing the one at ``i`` (or len(code) if unbalanced)."""
    depth = 0
    for j in range(i, len(code)):
        ch = code[j]
        if ch in OPEN:
            depth += 1
        elif ch in CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return len(code)


USE_ITEM_RE = re.compile(r"\s*(pub\s*(\([^)]*\))?\s*)?use\b")
ATTR_RE = re.compile(r"#\s*(!?)\s*\[")
OUTER_ATTR_RE = re.compile(r"\s*#\s*\[")


def item_end(code, i):
    """Best-effort end (exclusive) of the item/statement/field starting at ``i``."""
    is_use = USE_ITEM_RE.match(code, i) is not None
    j = i
    while j < len(code):
        ch = code[j]
        if ch == "{" and not is_use:
            return matching_close(code, j) + 1
        if ch in "([{":
            j = matching_close(code, j) + 1
            continue
        if ch == ";":
            return j + 1
        if ch in ")]}" or ch == ",":
            return j
        j += 1
    return j


def _top_level_args(text):
    """Split ``text`` at commas that are not nested inside parentheses."""
    args, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return args + [cur.strip()] if cur.strip() else args


def is_test_attribute(body):
    """True for ``test``, ``cfg(test)`` and ``cfg(all(.., test, ..))`` attribute bodies."""
    body = re.sub(r"\s+", "", body)
    if body == "test" or body == "cfg(test)":
        return True
    m = re.fullmatch(r"cfg\(all\((.*)\)\)", body)
    return bool(m) and "test" in _top_level_args(m.group(1))


def attributes(code):
    """Yield (start, end, inner, body) for every ``#[...]`` / ``#![...]`` attribute."""
    for m in ATTR_RE.finditer(code):
        close = matching_close(code, m.end() - 1)
        yield m.start(), close + 1, m.group(1) == "!", code[m.end():close]


def _skip_attributes(code, i):
    """Skip whitespace and outer attributes starting at ``i``."""
    while True:
        m = OUTER_ATTR_RE.match(code, i)
        if not m:
            return i
        i = matching_close(code, m.end() - 1) + 1


def test_regions(code):
    """Spans of items gated by ``#[cfg(test)]``/``#[test]`` (whole file for ``#![cfg(test)]``)."""
    regions = []
    for start, end, inner, body in attributes(code):
        if not is_test_attribute(body):
            continue
        if inner:
            return [(0, len(code))]
        if regions and regions[-1][1] > start:
            continue
        regions.append((start, item_end(code, _skip_attributes(code, end))))
    return regions


def mask(code, regions):
    """Blank every span in ``regions`` (keeping newlines)."""
    parts, last = [], 0
    for start, end in sorted(regions):
        if start < last:
            start = last
        parts.append(code[last:start])
        parts.append(_blank(code[start:end]))
        last = max(last, end)
    parts.append(code[last:])
    return "".join(parts)


class LineIndex:
    """Translate offsets into 1-based line numbers."""

    def __init__(self, text):
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, pos):
        """1-based line number of offset ``pos``."""
        return bisect.bisect_right(self.starts, pos)


# --------------------------------------------------------------------------
# Per-file facts: modules, uses, paths, functions
# --------------------------------------------------------------------------

MOD_RE = re.compile(r"(?<![\w$])mod\s+(?:r#)?([A-Za-z_]\w*)\s*([;{])")


def inline_modules(code):
    """List (name, body_start, body_end) for every inline ``mod name { ... }``."""
    return [(m.group(1), m.end(), matching_close(code, m.end() - 1))
            for m in MOD_RE.finditer(code) if m.group(2) == "{"]


def scope_at(pos, inline_mods):
    """Names of the inline modules enclosing ``pos``, outermost first."""
    return tuple(name for name, start, end in inline_mods if start <= pos < end)


def path_attribute(code, src, pos):
    """Value of a ``#[path = "..."]`` attribute directly before ``pos``, if any."""
    window = code[max(0, pos - 400):pos]
    m = re.search(r'#\s*\[\s*path\s*=\s*"[^"]*"\s*\]\s*(pub\s*(\([^)]*\))?\s*)?$', window)
    if not m:
        return None
    raw = src[max(0, pos - 400) + m.start():pos]
    return re.search(r'"([^"]*)"', raw).group(1)


def mod_declarations(code, src):
    """List (name, pos, path_attr) for every out-of-line ``mod name;``."""
    return [(m.group(1), m.start(), path_attribute(code, src, m.start()))
            for m in MOD_RE.finditer(code) if m.group(2) == ";"]


USE_RE = re.compile(r"(?<![\w$:])use\b(?!\s*<)")
PUB_BEFORE_RE = re.compile(r"\bpub\s*(\([^)]*\))?\s*$")
USE_TOKEN_RE = re.compile(r"::|[{},*;]|\$?(?:r#)?[A-Za-z_]\w*")


def use_statements(code):
    """List (start, end) spans of ``use ...;`` declarations."""
    spans = []
    for m in USE_RE.finditer(code):
        end = code.find(";", m.end())
        spans.append((m.start(), len(code) if end < 0 else end + 1))
    return spans


class _UseParser:
    """Expand one use tree into leaves: ``use a::{b, c::{self, d as e}, f::*};``."""

    def __init__(self, tokens):
        self.toks, self.i, self.leaves = tokens, 0, []

    def peek(self):
        return self.toks[self.i][0] if self.i < len(self.toks) else None

    def take(self):
        self.i += 1
        return self.toks[self.i - 1]

    def tree(self, prefix):
        """Parse one tree below ``prefix`` (a list of (segment, pos))."""
        path = list(prefix)
        if self.peek() == "::":
            self.take()
            if not prefix:
                path.append(("::", None))  # `use ::ext::x` names an external crate
        while self.peek() not in (None, "{", "*", ",", "}", ";", "as"):
            tok, pos = self.take()
            path.append((tok, pos))
            if self.peek() != "::":
                break
            self.take()
        self._tail(path)

    def _tail(self, path):
        """Handle what follows a path: a group, a glob, an alias or nothing."""
        nxt = self.peek()
        if nxt == "{":
            self.take()
            while self.peek() not in (None, "}"):
                self.tree(path)
                if self.peek() == ",":
                    self.take()
            self.take()
        elif nxt == "*":
            _, pos = self.take()
            self._leaf(path, None, True, pos)
        else:
            alias = None
            if nxt == "as":
                self.take()
                alias = self.take()[0] if self.peek() else None
            self._leaf(path, alias, False, None)

    def _leaf(self, path, alias, is_glob, pos):
        """Record a leaf; a trailing ``self`` names the prefix itself."""
        segs = [s for s, _ in path]
        if segs and segs[-1] == "self" and len(segs) > 1:
            segs = segs[:-1]
        if not segs:
            return
        pos = pos if pos is not None else next((p for _, p in reversed(path) if p is not None), None)
        self.leaves.append(UseLeaf(segs, alias or segs[-1], is_glob, pos, False))


def use_leaves(code, span):
    """Leaves of the use declaration spanning ``span``."""
    text = code[span[0]:span[1]]
    body = USE_RE.search(text)
    toks = [(m.group().replace("r#", ""), span[0] + m.start())
            for m in USE_TOKEN_RE.finditer(text, body.end())]
    parser = _UseParser(toks)
    parser.tree([])
    public = PUB_BEFORE_RE.search(code[max(0, span[0] - 60):span[0]]) is not None
    return [leaf._replace(public=public) for leaf in parser.leaves]


PATH_RE = re.compile(r"(?<!::)(?<![\w$])(\$?crate|[A-Za-z_]\w*)((?:\s*::\s*(?:r#)?[A-Za-z_]\w*)+)")
VIS_IN_RE = re.compile(r"pub\s*\(\s*in\b[^)]*\)")


def inline_paths(code):
    """Every ``a::b::c`` path expression in ``code`` (already without use declarations)."""
    code = VIS_IN_RE.sub(lambda m: _blank(m.group()), code)
    refs = []
    for m in PATH_RE.finditer(code):
        rest = re.findall(r"[A-Za-z_]\w*", m.group(2).replace("r#", ""))
        refs.append(PathRef([m.group(1)] + rest, m.start()))
    return refs


FN_RE = re.compile(r"(?<![\w$])fn\s+(?:r#)?([A-Za-z_]\w*)")


def _body_start(code, i):
    """Offset of a fn's opening body brace after its signature, or None (no body)."""
    while i < len(code):
        ch = code[i]
        if ch == "{":
            return i
        if ch in "([":
            i = matching_close(code, i) + 1
            continue
        if ch in ";)]}":
            return None
        i += 1
    return None


def functions(code, lines):
    """All functions with bodies: (name, fn line, closing brace line)."""
    found = []
    for m in FN_RE.finditer(code):
        body = _body_start(code, m.end())
        if body is not None:
            end = matching_close(code, body)
            found.append(Function(m.group(1), lines.line(m.start()), lines.line(end)))
    return found


class SourceFile:
    """One parsed .rs file: cleaned code, test-masked code and derived facts."""

    def __init__(self, path):
        with open(path, encoding="utf-8", errors="replace") as fh:
            self.src = fh.read()
        self.path = path
        self.lines = LineIndex(self.src)
        cleaned = strip_comments_and_literals(self.src)
        self.code = mask(cleaned, test_regions(cleaned))
        self.inline_mods = inline_modules(self.code)
        self.mod_decls = mod_declarations(self.code, self.src)
        spans = use_statements(self.code)
        self.uses = [leaf for span in spans for leaf in use_leaves(self.code, span)]
        self.paths = inline_paths(mask(self.code, spans))

    def is_mod_rs(self, is_root):
        """Whether children live in this file's own directory (mod.rs style)."""
        return is_root or os.path.basename(self.path) == "mod.rs"


# --------------------------------------------------------------------------
# Workspace discovery
# --------------------------------------------------------------------------

def _parse_toml_value(text):
    """Tiny fallback TOML value parser: strings, arrays of strings, bools, ints."""
    text = text.strip()
    if text.startswith("["):
        return [a or b for a, b in re.findall(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'', text)]
    if text[:1] and text[0] in "\"'":
        end = text.find(text[0], 1)
        return text[1:end if end > 0 else None]
    text = text.split("#")[0].strip()
    return text == "true" if text in ("true", "false") else text


def _fallback_toml(text):
    """Minimal TOML reader for Pythons without tomllib (tables, [[arrays]], simple keys)."""
    doc = {}
    table = doc
    text = re.sub(r"(?m)^\s*#.*$", "", text)
    for m in re.finditer(r'(?ms)^\s*(\[\[?[^\]]+\]\]?)\s*$|^\s*([\w.\-"]+)\s*=\s*(\[.*?\]|[^\n]*)\s*$', text):
        if m.group(1):
            header = m.group(1)
            keys = header.strip("[]").strip().split(".")
            node = doc
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            if header.startswith("[["):
                node.setdefault(keys[-1], []).append({})
                table = node[keys[-1]][-1]
            else:
                table = node.setdefault(keys[-1], {})
        else:
            table[m.group(2).strip('"')] = _parse_toml_value(m.group(3))
    return doc


def load_toml(path):
    """Parse a Cargo.toml with tomllib when available, else with the fallback reader."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        import tomllib
    except ImportError:
        return _fallback_toml(data.decode("utf-8", "replace"))
    return tomllib.loads(data.decode("utf-8", "replace"))


def workspace_members(root, skip):
    """Relative member dirs from the root manifest's globs, minus excludes and ``skip``."""
    manifest = load_toml(os.path.join(root, "Cargo.toml"))
    ws = manifest.get("workspace", {})
    excluded = {os.path.normpath(p) for p in ws.get("exclude", [])}
    members = ["."] if "package" in manifest else []
    for pattern in ws.get("members", []):
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            rel = os.path.relpath(path, root)
            if os.path.isfile(os.path.join(path, "Cargo.toml")) and rel not in members:
                members.append(rel)
    return [m for m in members if m not in excluded
            and not any((m.replace(os.sep, "/") + "/").startswith(p) for p in skip)]


def _auto_targets(pkg_dir, kind, folder):
    """Cargo's auto-discovered targets: ``folder/*.rs`` and ``folder/*/main.rs``."""
    found = []
    for path in sorted(glob.glob(os.path.join(pkg_dir, folder, "*.rs"))):
        found.append(Target(kind, os.path.basename(path)[:-3], path))
    for path in sorted(glob.glob(os.path.join(pkg_dir, folder, "*", "main.rs"))):
        found.append(Target(kind, os.path.basename(os.path.dirname(path)), path))
    return found


def _explicit_targets(pkg_dir, manifest, kind, folder):
    """Targets declared as ``[[kind]]`` tables (path defaults to ``folder/name.rs``)."""
    found = []
    for entry in manifest.get(kind, []):
        name = entry.get("name", "")
        path = entry.get("path") or os.path.join(folder, name + ".rs")
        if kind == "bin" and not entry.get("path") and name == manifest.get("package", {}).get("name"):
            path = os.path.join("src", "main.rs")
        found.append(Target(kind, name, os.path.join(pkg_dir, path)))
    return found


def package_targets(pkg_dir, manifest):
    """All lib/bin/test/bench targets of one package whose root file exists."""
    pkg = manifest.get("package", {})
    lib = manifest.get("lib", {}).get("path", os.path.join("src", "lib.rs"))
    targets = [Target("lib", pkg.get("name", ""), os.path.join(pkg_dir, lib))]
    targets.append(Target("bin", pkg.get("name", ""), os.path.join(pkg_dir, "src", "main.rs")))
    for kind, folder, auto in (("bin", "src/bin", "autobins"), ("test", "tests", "autotests"),
                               ("bench", "benches", "autobenches")):
        targets += _explicit_targets(pkg_dir, manifest, kind, folder)
        if pkg.get(auto, True):
            targets += _auto_targets(pkg_dir, kind, folder)
    unique = {}
    for target in targets:
        if os.path.isfile(target.root):
            unique.setdefault(os.path.normpath(target.root), target)
    return list(unique.values())


# --------------------------------------------------------------------------
# Module trees and reference resolution
# --------------------------------------------------------------------------

class ModuleTree:
    """Module path -> file for one target, plus child names of each module."""

    def __init__(self, target, files, warn):
        self.target, self.files, self.warn = target, files, warn
        self.module_file = {}
        self.children = {}
        self.file_modules = {}
        self.reexports = {}
        self._walk()
        self._collect_reexports()

    def _add(self, modpath, path):
        """Register module ``modpath`` as living in ``path``."""
        self.module_file[modpath] = path
        if modpath:
            self.children.setdefault(modpath[:-1], set()).add(modpath[-1])

    def _walk(self):
        """Breadth-first walk of ``mod`` declarations from the target root."""
        queue = [((), os.path.normpath(self.target.root))]
        while queue:
            modpath, path = queue.pop(0)
            if modpath in self.file_modules:
                continue
            sf = self.files.get(path) or self.files.setdefault(path, SourceFile(path))
            self.file_modules[modpath] = path
            self._add(modpath, path)
            for name, start, end in sf.inline_mods:
                self._add(modpath + scope_at(start, sf.inline_mods) + (name,), path)
            queue += self._children_of(sf, modpath, is_root=not modpath)

    def _children_of(self, sf, modpath, is_root):
        """(modpath, file) pairs for the out-of-line modules ``sf`` declares."""
        base = os.path.dirname(sf.path)
        if not sf.is_mod_rs(is_root):
            base = os.path.join(base, os.path.splitext(os.path.basename(sf.path))[0])
        found = []
        for name, pos, attr in sf.mod_decls:
            scope = scope_at(pos, sf.inline_mods)
            child = self._child_file(sf, base, scope, name, attr)
            if child:
                found.append((modpath + scope + (name,), child))
        return found

    def _child_file(self, sf, base, scope, name, attr):
        """Locate the file of ``mod name;`` (honouring ``#[path]``), or warn."""
        if attr:
            candidates = [os.path.join(os.path.dirname(sf.path), *scope, attr)]
        else:
            sub = os.path.join(base, *scope, name)
            candidates = [sub + ".rs", os.path.join(sub, "mod.rs")]
        for cand in candidates:
            if os.path.isfile(cand):
                return os.path.normpath(cand)
        here = os.path.dirname(sf.path)
        looked = " or ".join(os.path.relpath(c, here).replace(os.sep, "/") for c in candidates)
        self.warn(sf.path, "module `%s` has no file (looked for %s)" % (name, looked))
        return None

    def _collect_reexports(self):
        """Map module path -> {name: absolute target} for named ``pub use`` items."""
        for modpath, path in self.file_modules.items():
            resolver = Resolver(self, modpath, self.files[path])
            for leaf in self.files[path].uses:
                absolute = resolver.absolute(leaf.segs, leaf.pos)
                if leaf.public and not leaf.glob and absolute and leaf.alias != "_":
                    scope = resolver.scope(leaf.pos)
                    self.reexports.setdefault(scope, {})[leaf.alias] = absolute

    def deepest_module(self, segs):
        """Length of the longest prefix of ``segs`` (absolute) that is a module."""
        for k in range(len(segs), -1, -1):
            if tuple(segs[:k]) in self.module_file:
                return k
        return 0

    def deepest_file(self, segs, follow=True):
        """File of the deepest module prefixing ``segs``.

        With ``follow``, an item the module merely re-exports (``pub use x::Item``)
        resolves to where the re-export points, so ``crate::Host`` lands on
        host.rs rather than on the lib.rs facade.
        """
        segs = list(segs)
        for _ in range(16):
            k = self.deepest_module(segs)
            target = self.reexports.get(tuple(segs[:k]), {}).get(segs[k]) if k < len(segs) else None
            if not follow or target is None or target == segs[:k + 1]:
                break
            segs = list(target) + segs[k + 1:]
        return self.module_file.get(tuple(segs[:self.deepest_module(segs)]))


class Resolver:
    """Turn paths seen at a position in a file into absolute module paths."""

    def __init__(self, tree, modpath, sf):
        self.tree, self.modpath, self.sf = tree, modpath, sf
        self.bindings = {}
        for leaf in sf.uses:
            self._bind(leaf)

    def scope(self, pos):
        """Module path in effect at ``pos`` (file module plus enclosing inline mods)."""
        return self.modpath + scope_at(pos, self.sf.inline_mods)

    def absolute(self, segs, pos):
        """Absolute module-relative path for ``segs`` or None if it is external."""
        scope = self.scope(pos)
        head = segs[0]
        if head in ("crate", "$crate"):
            return list(segs[1:])
        if head in ("self", "super"):
            return self._relative(scope, segs)
        if head in self.tree.children.get(scope, ()):
            return list(scope) + list(segs)
        bound = self.bindings.get((scope, head))
        return bound + list(segs[1:]) if bound is not None else None

    @staticmethod
    def _relative(scope, segs):
        """Resolve leading ``self``/``super`` segments against ``scope``."""
        base, i = list(scope), 0
        while i < len(segs) and segs[i] in ("self", "super"):
            if segs[i] == "super":
                if not base:
                    return None
                base.pop()
            i += 1
        return base + list(segs[i:])

    def _bind(self, leaf):
        """Remember local names that a use declaration binds to crate modules."""
        absolute = self.absolute(leaf.segs, leaf.pos)
        if absolute is None:
            return
        scope = self.scope(leaf.pos)
        if leaf.glob:
            for child in self.tree.children.get(tuple(absolute), ()):
                self.bindings.setdefault((scope, child), absolute + [child])
        elif tuple(absolute) in self.tree.module_file and leaf.alias != "_":
            self.bindings[(scope, leaf.alias)] = absolute


# --------------------------------------------------------------------------
# Graph building and strongly connected components
# --------------------------------------------------------------------------

class Graph:
    """File dependency graph of one package with one example per edge."""

    def __init__(self):
        self.nodes = set()
        self.edges = {}

    def add_edge(self, src, dst, line, text):
        """Add ``src -> dst`` keeping the first (lowest line) example."""
        if src == dst:
            return
        per_src = self.edges.setdefault(src, {})
        if dst not in per_src or line < per_src[dst][0]:
            per_src[dst] = (line, text)

    def successors(self, node):
        """Sorted successors of ``node``."""
        return sorted(self.edges.get(node, {}))


def strongly_connected(graph):
    """Tarjan's algorithm, iterative; returns a list of components (sorted lists)."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph.nodes):
        if start in index:
            continue
        work = [(start, iter(graph.successors(start)))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comps.append(_pop_component(stack, on_stack, node))
            elif nxt not in index:
                index[nxt] = low[nxt] = counter
                counter += 1
                stack.append(nxt)
                on_stack.add(nxt)
                work.append((nxt, iter(graph.successors(nxt))))
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
    return comps


def _pop_component(stack, on_stack, root):
    """Pop one finished component (ending at ``root``) off the Tarjan stack."""
    comp = []
    while True:
        node = stack.pop()
        on_stack.discard(node)
        comp.append(node)
        if node == root:
            return sorted(comp)


def add_file_edges(graph, tree, modpath, sf, rel, follow=True):
    """Add every dependency edge of ``sf`` (as module ``modpath`` of ``tree``)."""
    resolver = Resolver(tree, modpath, sf)
    refs = [(leaf.segs, leaf.pos) for leaf in sf.uses] + [(r.segs, r.pos) for r in sf.paths]
    graph.nodes.add(rel(sf.path))
    for segs, pos in refs:
        absolute = resolver.absolute(segs, pos)
        if absolute is None:
            continue
        target = tree.deepest_file(absolute, follow)
        if target:
            graph.add_edge(rel(sf.path), rel(target), sf.lines.line(pos), "::".join(segs))


# --------------------------------------------------------------------------
# Checking a workspace
# --------------------------------------------------------------------------

class Checker:
    """Runs both checks over the workspace rooted at ``root``."""

    def __init__(self, root, skip, max_cycle, max_fn_lines, follow=True):
        self.root, self.skip, self.follow = root, skip, follow
        self.max_cycle, self.max_fn_lines = max_cycle, max_fn_lines
        self.files, self.warnings = {}, []
        self.crates, self.cycles, self.long_fns = [], [], []

    def rel(self, path):
        """Path relative to the workspace root, with forward slashes."""
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    def warn(self, path, message):
        """Record a warning about ``path`` (shown relative to the root)."""
        self.warnings.append("%s: %s" % (self.rel(path), message))

    def run(self):
        """Check every selected member; returns self for chaining."""
        for member in workspace_members(self.root, self.skip):
            self.check_package(os.path.join(self.root, member))
        self.long_fns.sort(key=lambda f: (-f["lines"], f["file"], f["line"]))
        return self

    def check_package(self, pkg_dir):
        """Build the package's module trees, file graph, and scan its functions."""
        manifest = load_toml(os.path.join(pkg_dir, "Cargo.toml"))
        targets = package_targets(pkg_dir, manifest)
        if not targets:
            return
        name = manifest.get("package", {}).get("name", self.rel(pkg_dir))
        self.crates.append(name)
        graph, lib_files = Graph(), set()
        for target in targets:
            tree = ModuleTree(target, self.files, self.warn)
            for modpath, path in tree.file_modules.items():
                add_file_edges(graph, tree, modpath, self.files[path], self.rel, self.follow)
                if target.kind not in TEST_KINDS:
                    lib_files.add(path)
        self._record_cycles(name, graph)
        for path in sorted(lib_files):
            self._record_long_functions(self.files[path])

    def _record_cycles(self, crate, graph):
        """Keep components larger than ``max_cycle`` with their internal edges."""
        for comp in strongly_connected(graph):
            if len(comp) <= self.max_cycle:
                continue
            members = set(comp)
            edges = [{"from": src, "to": dst, "line": line, "path": text}
                     for src in comp for dst, (line, text) in sorted(graph.edges.get(src, {}).items())
                     if dst in members]
            self.cycles.append({"crate": crate, "files": comp, "edges": edges})

    def _record_long_functions(self, sf):
        """Keep functions whose fn-line..closing-brace span exceeds the limit."""
        for fn in functions(sf.code, sf.lines):
            lines = fn.end_line - fn.line + 1
            if lines > self.max_fn_lines:
                self.long_fns.append({"file": self.rel(sf.path), "line": fn.line,
                                      "name": fn.name, "lines": lines})

    @property
    def failed(self):
        """True when anything was reported."""
        return bool(self.cycles or self.long_fns)

    def summary(self):
        """The one-line summary printed in every mode."""
        return ("check-layers: %d crates, %d files, %d import circles over %d files, "
                "%d functions over %d lines" % (len(self.crates), len(self.files), len(self.cycles),
                                                self.max_cycle, len(self.long_fns), self.max_fn_lines))


# --------------------------------------------------------------------------
# Output and command line
# --------------------------------------------------------------------------

def print_text(checker, out):
    """Human-readable report: circles with their edges, long functions, summary."""
    for cycle in checker.cycles:
        out.write("import circle of %d files in crate %s:\n" % (len(cycle["files"]), cycle["crate"]))
        for path in cycle["files"]:
            out.write("    %s\n" % path)
        out.write("  edges inside the circle (example line: referenced path):\n")
        for edge in cycle["edges"]:
            out.write("    %s:%d -> %s   (%s)\n" % (edge["from"], edge["line"], edge["to"], edge["path"]))
        out.write("\n")
    if checker.long_fns:
        out.write("functions over %d lines (lines file:line name):\n" % checker.max_fn_lines)
        for fn in checker.long_fns:
            out.write("  %4d %s:%d %s\n" % (fn["lines"], fn["file"], fn["line"], fn["name"]))
        out.write("\n")
    out.write(checker.summary() + "\n")


def print_json(checker, out):
    """Machine-readable report."""
    json.dump({"root": checker.root, "crates": checker.crates, "files": len(checker.files),
               "max_cycle": checker.max_cycle, "max_fn_lines": checker.max_fn_lines,
               "import_circles": checker.cycles, "long_functions": checker.long_fns,
               "warnings": checker.warnings, "ok": not checker.failed,
               "summary": checker.summary()}, out, indent=2)
    out.write("\n")


def default_root():
    """Repo root: parent of the script's folder if it lives in scripts/, else the cwd.

    From a subdirectory, the nearest ancestor of the cwd whose Cargo.toml has a
    ``[workspace]`` table is used instead of the cwd itself.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.basename(here) == "scripts":
        return os.path.dirname(here)
    path = os.getcwd()
    while True:
        manifest = os.path.join(path, "Cargo.toml")
        if os.path.isfile(manifest) and "workspace" in load_toml(manifest):
            return path
        if os.path.dirname(path) == path:
            return os.getcwd()
        path = os.path.dirname(path)


def parse_args(argv):
    """Command-line flags."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-cycle", type=int, default=3, metavar="N",
                    help="largest allowed import circle in files (default 3)")
    ap.add_argument("--max-fn-lines", type=int, default=80, metavar="N",
                    help="longest allowed function in lines (default 80)")
    ap.add_argument("--root", default=None, metavar="PATH",
                    help="workspace root (default: parent of scripts/ or the cwd)")
    ap.add_argument("--json", action="store_true", help="print a JSON report")
    ap.add_argument("--no-follow-reexports", dest="follow", action="store_false",
                    help="resolve `crate::Item` to the re-exporting module file (e.g. lib.rs) "
                         "instead of the file the `pub use` points to")
    ap.add_argument("--include", action="append", default=[], metavar="PREFIX",
                    help="also check members under a skipped prefix (%s; or 'all')" % ", ".join(DEFAULT_SKIP))
    ap.add_argument("--skip", action="append", default=[], metavar="PREFIX",
                    help="skip members whose path starts with PREFIX")
    return ap.parse_args(argv)


def skip_prefixes(args):
    """Member path prefixes to skip after applying --include/--skip."""
    wanted = [p.rstrip("/") + "/" for p in args.include]
    skip = [] if "all/" in wanted else [p for p in DEFAULT_SKIP if p not in wanted]
    return skip + [p.rstrip("/") + "/" for p in args.skip]


def main(argv=None):
    """Entry point; returns the process exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    root = os.path.abspath(args.root or default_root())
    if not os.path.isfile(os.path.join(root, "Cargo.toml")):
        sys.stderr.write("check-layers: no Cargo.toml in %s (use --root)\n" % root)
        return 2
    checker = Checker(root, skip_prefixes(args), args.max_cycle, args.max_fn_lines,
                      args.follow).run()
    if not args.json:
        for warning in checker.warnings:
            sys.stderr.write("check-layers: warning: %s\n" % warning)
    (print_json if args.json else print_text)(checker, sys.stdout)
    return 1 if checker.failed else 0


if __name__ == "__main__":
    sys.exit(main())
