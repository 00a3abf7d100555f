#!/usr/bin/env python3
"""The module graph of a crate, from its sources: which module uses which, and the checks.

    python3 scripts/module-graph.py crates/core/src          # checks; prints the top-level graph
    python3 scripts/module-graph.py crates/core/src --files  # also every file-level edge

A module's edges are the `crate::a::b` and `super::x` paths its files name (in `use` lines and
in code; comments and doc text are skipped). It fails, naming the edges, when

* the top-level modules form a cycle;
* a file-level cycle joins sibling files of one module (a `mod.rs` and the files it declares
  are one owner and its parts, so edges between them are not counted);
* a module uses one of a higher layer (LAYERS below: a layer may use its own and lower ones);
* code imports through the crate root (`crate::Embedded` instead of `crate::embedded::…`).

Written for this repository's layout (no `#[path]` modules, `mod.rs` or `name.rs` files).
"""

import os
import re
import sys

# The core's layers, lowest first. A module may use modules of its own layer and below.
LAYERS = [
    {"escape", "sync"},
    {"digest", "naming", "resync"},
    {"sip", "schedule"},
    {"config", "crypt"},
    {"engine"},
    {"embedded", "fleet", "fuzzing"},
]

PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\}", re.S)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines = []
    for line in text.split("\n"):
        # Drop `//` comments, but not `//` inside a string literal (good enough here: no
        # string in the sources starts a comment-looking sequence before a path).
        in_str = False
        out = []
        i = 0
        while i < len(line):
            c = line[i]
            if c == '"' and (i == 0 or line[i - 1] != "\\"):
                in_str = not in_str
            if not in_str and line.startswith("//", i):
                break
            out.append(c)
            i += 1
        lines.append("".join(out))
    return "\n".join(lines)


def module_of(root, path):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel == ["lib"]:
        return []
    return rel


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    show_files = "--files" in sys.argv
    root = args[0] if args else "crates/core/src"
    files = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(dirpath, n)
                files[tuple(module_of(root, p))] = p
    modules = set(files)

    def resolve(base, kind, segs):
        """The longest existing module named by a path, or None."""
        if kind == "crate":
            cur = []
        else:
            cur = list(base[:-1]) if base else []
        full = cur + segs
        for k in range(len(full), -1, -1):
            if tuple(full[:k]) in modules:
                return tuple(full[:k]), full[k:] if k < len(full) else []
        return None, []

    edges = {}
    root_imports = []
    for mod, path in sorted(files.items()):
        text = strip_comments(open(path, encoding="utf-8").read())
        # `#[cfg(test)] mod tests { … }` blocks use whatever they test; they are left in, as
        # tests inside a module are part of it.
        paths = []
        for m in USE_GROUP.finditer(text):
            prefix = [s for s in m.group(2).split("::") if s]
            for item in re.split(r",", m.group(3)):
                item = item.strip().split(" as ")[0].strip()
                if not item or item.startswith("{"):
                    continue
                segs = [s for s in item.split("::") if s and s != "self" and s != "*"]
                paths.append((m.group(1), prefix + segs))
        for m in PATH.finditer(text):
            paths.append((m.group(1), [s for s in m.group(2).split("::") if s]))
        for kind, segs in paths:
            # `super` chains: super::super::x
            base = list(mod)
            while kind == "super" and segs and segs[0] == "super":
                base = base[:-1]
                segs = segs[1:]
            target, rest = resolve(tuple(base), kind, segs)
            if target is None:
                continue
            if target == () and kind == "crate" and mod != () and rest:
                # crate::Name where Name is no module: an import through the crate root.
                if rest[0] not in ("log_counters", "with_counter_fields", "log_counters_fields"):
                    root_imports.append((path, "crate::" + "::".join(rest)))
                continue
            if target != mod:
                edges.setdefault(mod, set()).add(target)

    problems = []
    top = {}
    for a, bs in edges.items():
        for b in bs:
            if a and b and a[0] != b[0]:
                top.setdefault(a[0], set()).add(b[0])
    tops = sorted({m[0] for m in modules if m})

    def find_cycle(nodes, succ):
        colour = {n: 0 for n in nodes}
        stack = []

        def visit(n):
            colour[n] = 1
            stack.append(n)
            for s in sorted(succ.get(n, ())):
                if s not in colour:
                    continue
                if colour[s] == 1:
                    return stack[stack.index(s):] + [s]
                if colour[s] == 0:
                    c = visit(s)
                    if c:
                        return c
            stack.pop()
            colour[n] = 2
            return None

        for n in sorted(nodes):
            if colour[n] == 0:
                c = visit(n)
                if c:
                    return c
        return None

    cycle = find_cycle(tops, top)
    if cycle:
        problems.append("cycle between top-level modules: " + " -> ".join(cycle))

    layer = {}
    for i, names in enumerate(LAYERS):
        for n in names:
            layer[n] = i
    for a in tops:
        if a not in layer:
            problems.append(f"module {a} has no layer in scripts/module-graph.py LAYERS")
    for a, bs in sorted(top.items()):
        for b in sorted(bs):
            if a in layer and b in layer and layer[b] > layer[a]:
                problems.append(f"{a} (layer {layer[a]}) uses {b} (layer {layer[b]}, higher)")

    # Sibling files of one module.
    by_parent = {}
    for m in modules:
        if len(m) >= 1:
            by_parent.setdefault(m[:-1], set()).add(m)
    for parent, kids in sorted(by_parent.items()):
        succ = {}
        for a in kids:
            for b in edges.get(a, ()):
                # An edge into a sibling or anything below it counts as to the sibling.
                for k in kids:
                    if b[: len(k)] == k and k != a:
                        succ.setdefault(a, set()).add(k)
        c = find_cycle(kids, succ)
        if c:
            problems.append(
                "cycle between files: " + " -> ".join("::".join(x) for x in c)
            )

    for path, what in root_imports:
        problems.append(f"{path}: imports through the crate root: {what}")

    print(f"module graph of {root}: {len(modules)} modules, {len(tops)} top-level")
    for a in tops:
        lay = layer.get(a, "?")
        print(f"  [{lay}] {a:<9} -> {', '.join(sorted(top.get(a, ()))) or '(nothing)'}")
    if show_files:
        for a, bs in sorted(edges.items()):
            print(f"  {'::'.join(a) or 'crate'} -> {', '.join('::'.join(b) or 'crate' for b in sorted(bs))}")
    if problems:
        print("module-graph: FAILED:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        sys.exit(1)
    print("module-graph: no cycle, no import against the layers, none through the crate root")


if __name__ == "__main__":
    main()
