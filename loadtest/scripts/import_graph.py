#!/usr/bin/env python3
"""The module-level import graph of duet's src/, and a check that it has
no cycle and that each layer imports only the layers below it.

    python3 loadtest/scripts/import_graph.py [SRC_DIR]

Nodes are the crate's top-level modules (src/base/, src/net/, src/app/,
src/server.rs, ...). An edge A -> B is any path in A's code that names B:
`use crate::B::...`, `crate::B::...` in an expression or type, the members
of `use crate::{B::..., ...}`, and `super::...` chains that climb out of A
to the crate root and name B. `main.rs` is the binary, a crate of its own:
its `duet::B` paths count as edges from `main`. Comments are ignored.

Prints every edge (with the first place that makes it), a bottom-to-top
order of the modules, and exits 1 if the graph has a cycle (printing one)
or if a module imports outside what LAYERS allows it.
"""

import os
import re
import sys
from collections import defaultdict

# What each top-level module may import: the layering of
# docs/architecture.md, bottom to top. `server` (wiring), the crate root
# (`lib`, its re-exports) and the binary (`main`) may import anything.
LAYERS = {
    "base": set(),
    "metrics": set(),
    "bus": set(),
    "store": {"base", "metrics", "bus"},
    "config": {"base", "store"},
    "link": {"base"},
    "net": {"base", "link", "metrics"},
    "app": {"base", "link", "store", "metrics", "config", "bus"},
    "server": None,
    "lib": None,
    "main": None,
}

WORD = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments(text):
    """Drops block comments and line comments (doc comments included),
    leaving string literals alone."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif c == "r" and re.match(r'r#*"', text[i:]):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(text[i:end])
            i = end
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_path(src, path):
    """`src/app/commands/chat.rs` -> ["app", "commands", "chat"]."""
    rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel == ["lib"]:
        return []
    return rel


def group_members(body):
    """The first path segment of each member of a `{...}` use group."""
    members, depth, cur = [], 0, []
    for ch in body:
        if ch == "," and depth == 0:
            members.append("".join(cur))
            cur = []
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur.append(ch)
    members.append("".join(cur))
    return [re.split(r"::|\{", m.strip())[0].strip() for m in members if m.strip()]


def matching_brace(code, open_end):
    """The index just past the `}` closing the `{` that ends at `open_end`."""
    depth, j = 1, open_end
    while j < len(code) and depth:
        depth += {"{": 1, "}": -1}.get(code[j], 0)
        j += 1
    return j


def inline_modules(code):
    """(start, end, name) of each inline `mod name { ... }` in `code`."""
    spans = []
    for m in re.finditer(r"\bmod\s+(" + WORD + r")\s*\{", code):
        spans.append((m.end(), matching_brace(code, m.end()), m.group(1)))
    return spans


def references(code, here, tops, root_name):
    """(target top-level module, line number) for each path in `code`
    that leaves `here` (the file's module path)."""
    refs = []
    spans = inline_modules(code)

    def line_of(pos):
        return code.count("\n", 0, pos) + 1

    def module_at(pos):
        return here + [name for start, end, name in spans if start <= pos < end]

    def add(name, pos):
        refs.append((name, line_of(pos)))

    # At the crate root (lib.rs) a module is named without `crate::`.
    if here == [] and root_name == "crate":
        for m in re.finditer(r"\buse\s+(" + WORD + r")::", code):
            add(m.group(1), m.start())
    # crate::{a::x, b} (duet::{...} in the binary)
    for m in re.finditer(r"(?<![A-Za-z0-9_$])" + root_name + r"::\{", code):
        for name in group_members(code[m.end() : matching_brace(code, m.end()) - 1]):
            add(name, m.start())
    # crate::a
    for m in re.finditer(r"(?<![A-Za-z0-9_$])" + root_name + r"::(" + WORD + ")", code):
        add(m.group(1), m.start())
    # super::super::a, climbing from the module the path is written in
    for m in re.finditer(r"(?<![A-Za-z0-9_:])((?:super::)+)(" + WORD + r"|\*|\{)", code):
        mod = module_at(m.start())
        ups = m.group(1).count("super::")
        if len(mod) - ups > 0:
            continue  # still inside this top-level module
        if m.group(2) == "{":
            for name in group_members(code[m.end() : matching_brace(code, m.end()) - 1]):
                add(name, m.start())
        else:
            add(m.group(2), m.start())
    out = []
    for name, line in refs:
        if name in tops:
            out.append((name, line))
        elif name == "*" or name[:1].isupper():
            out.append(("lib", line))  # an item at (or re-exported at) the crate root
    return out


def find_cycle(nodes, edges):
    color, stack = {}, []

    def visit(v):
        color[v] = 1
        stack.append(v)
        for w in sorted(edges[v]):
            if color.get(w) == 1:
                return stack[stack.index(w) :] + [w]
            if color.get(w) is None:
                found = visit(w)
                if found:
                    return found
        stack.pop()
        color[v] = 2
        return None

    for v in sorted(nodes):
        if color.get(v) is None:
            found = visit(v)
            if found:
                return found
    return None


def bottom_up(nodes, edges):
    order, done = [], set()
    while len(done) < len(nodes):
        ready = sorted(v for v in nodes if v not in done and edges[v] <= done)
        if not ready:
            break
        order.append(ready)
        done.update(ready)
    return order


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "src")
    src = os.path.normpath(src)
    files = []
    for root, _, names in os.walk(src):
        files += [os.path.join(root, f) for f in names if f.endswith(".rs")]
    tops = set()
    for f in files:
        mp = module_path(src, f)
        if mp and mp != ["main"]:
            tops.add(mp[0])
    nodes = tops | {"lib", "main"}
    edges = defaultdict(set)
    first = {}
    for f in sorted(files):
        mp = module_path(src, f)
        node = "lib" if not mp else mp[0]
        root_name = "duet" if mp == ["main"] else "crate"
        with open(f, encoding="utf-8") as fh:
            code = strip_comments(fh.read())
        for target, line in references(code, mp, tops, root_name):
            if target == node:
                continue
            edges[node].add(target)
            first.setdefault((node, target), f"{os.path.relpath(f, src)}:{line}")
    # The crate root declares every module (`pub mod`): that is ownership,
    # not an import; only its re-exports count, and they are found above.

    print("edges (module -> what it imports; first place):")
    for node in sorted(nodes):
        for target in sorted(edges[node]):
            print(f"  {node:8} -> {target:8} {first[(node, target)]}")
    failed = False
    cycle = find_cycle(nodes, edges)
    if cycle:
        print("CYCLE: " + " -> ".join(cycle))
        failed = True
    else:
        print("bottom to top (each level imports only levels before it):")
        for i, level in enumerate(bottom_up(nodes, edges)):
            print(f"  {i}: {', '.join(level)}")
    for node in sorted(nodes):
        allowed = LAYERS.get(node, "unknown")
        if allowed == "unknown":
            print(f"LAYER RULE MISSING: {node} is not in LAYERS")
            failed = True
        elif allowed is not None and edges[node] - allowed:
            print(f"LAYER VIOLATION: {node} imports {sorted(edges[node] - allowed)}; allowed {sorted(allowed)}")
            failed = True
    print("no cycle; every layer imports only what LAYERS allows" if not failed else "FAILED")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
