#!/usr/bin/env python3
"""The code's shape, checked: no import cycle among sibling modules, no source file over 600
lines before its #[cfg(test)] part, no function over 80 lines outside tests.

Run from the checkout's root (`.ci/run` does): prints every violation and exits 1 if there is
any, 0 otherwise. A module's edges are the `crate::`, `super::` and `self::` paths it names
outside its tests, lifted to the children of the two modules' nearest common ancestor (so a
parent re-exporting its children is no cycle, but two siblings naming each other are).
"""

import collections
import os
import re
import sys

CRATES = ["probes", "fixtures", "backends", "harness"]
MAX_FILE_LINES = 600
MAX_FN_LINES = 80


def source_files(root):
    for base, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("target", "tests")]
        for name in sorted(files):
            if name.endswith(".rs"):
                yield os.path.join(base, name)


def before_tests(text):
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def long_functions(path, lines):
    found = []
    i = 0
    fn = re.compile(r"^(\s*)(pub(\([a-z]+\))? )?(async )?(const )?(unsafe )?fn (\w+)")
    while i < len(lines):
        m = fn.match(lines[i])
        if not m:
            i += 1
            continue
        indent, start = len(m.group(1)), i
        j = i
        while j < len(lines) and not lines[j].rstrip().endswith(("{", ";")):
            j += 1
        if j >= len(lines) or lines[j].rstrip().endswith(";"):
            i = j + 1
            continue
        k = j + 1
        while k < len(lines) and not (
            lines[k].startswith(" " * indent + "}")
            and len(lines[k]) - len(lines[k].lstrip()) == indent
        ):
            k += 1
        if k - start + 1 > MAX_FN_LINES:
            found.append(f"{path}: fn {m.group(7)} is {k - start + 1} lines (max {MAX_FN_LINES})")
        i = k + 1
    return found


def module_of(src, path):
    parts = os.path.relpath(path, src)[:-3].split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts in (["lib"], ["main"]):
        parts = []
    return tuple(parts)


def cycles(crate):
    src = os.path.join(crate, "src")
    modules = {}
    for path in source_files(src):
        rel = os.path.relpath(path, src).split(os.sep)
        if rel[0] == "bin":
            continue
        modules[module_of(src, path)] = path

    def resolve(path):
        for i in range(len(path), -1, -1):
            if tuple(path[:i]) in modules:
                return tuple(path[:i])
        return ()

    edges = collections.defaultdict(set)
    for module, path in modules.items():
        text = re.sub(r"//.*", "", before_tests(open(path).read()))
        for m in re.finditer(r"\b(crate|super|self)((?:::\w+)+)", text):
            head, parts = m.group(1), m.group(2).strip(":").split("::")
            base = [] if head == "crate" else list(module[:-1]) if head == "super" else list(module)
            while parts and parts[0] == "super":
                base, parts = base[:-1], parts[1:]
            edges[module].add(resolve(base + parts))
        for m in re.finditer(r"use (crate|super)::\{([^}]*)\}", text):
            base = [] if m.group(1) == "crate" else list(module[:-1])
            for item in m.group(2).split(","):
                item = item.strip().split("::")
                if item and item[0]:
                    edges[module].add(resolve(base + item))
    siblings = collections.defaultdict(set)
    for a, targets in edges.items():
        for b in targets:
            i = 0
            while i < min(len(a), len(b)) and a[i] == b[i]:
                i += 1
            if i < len(a) and i < len(b):
                siblings[a[: i + 1]].add(b[: i + 1])
    # Tarjan's strongly connected components.
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in siblings.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                names = sorted("::".join(c) for c in component)
                found.append(f"{crate}: import cycle among {', '.join(names)}")

    for v in list(siblings):
        if v not in index:
            connect(v)
    return found


def main():
    problems = []
    for crate in CRATES:
        for path in source_files(crate):
            text = before_tests(open(path).read())
            lines = text.split("\n")
            if len(lines) > MAX_FILE_LINES:
                problems.append(f"{path}: {len(lines)} lines before its tests (max {MAX_FILE_LINES})")
            problems.extend(long_functions(path, lines))
        problems.extend(cycles(crate))
    for problem in problems:
        print(problem)
    print(f"structure: {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
