#!/usr/bin/env bash
# The mutation check of the evidence core: cargo-mutants on the files where a false "contained"
# would be born, each against the tests that must pin it. Fails on a missed mutant that is not in
# scripts/mutants-exceptions.txt (each exception with its reason).
#
#   scripts/mutants.sh                     every group
#   scripts/mutants.sh --changed-since REV only the groups with a file changed since REV
#
# Needs cargo-mutants (`cargo install cargo-mutants --locked`). Groups: "package|files|test args".
# The verdict rules (harness/src/verdict/) join this list once their missed mutants are killed
# (claude-bottle issue 17).
set -euo pipefail
cd "$(dirname "$0")/.."

MUTANT_GROUPS=(
    "bottle-fixtures|fixtures/src/records/line.rs fixtures/src/records/kinds.rs|--lib"
    "bottle-probes|probes/src/wire/parser.rs probes/src/wire/observation.rs probes/src/wire/spec.rs probes/src/wire/refusal.rs probes/src/wire/percent.rs|--lib --test parser_corpus --test parser_fuzz"
    "bottle-harness|harness/src/gaps.rs harness/src/report/diff.rs|--lib --test verdicts --test reports"
)

changed_since=""
if [ "${1:-}" = "--changed-since" ]; then
    changed_since="${2:?--changed-since takes a revision}"
fi

exceptions="scripts/mutants-exceptions.txt"
status=0
for group in "${MUTANT_GROUPS[@]}"; do
    IFS='|' read -r package files test_args <<<"$group"
    if [ -n "$changed_since" ]; then
        # shellcheck disable=SC2086
        if [ -z "$(git diff --name-only "$changed_since" HEAD -- $files)" ]; then
            echo "mutants: $package: none of its files changed since $changed_since" >&2
            continue
        fi
    fi
    out="$(mktemp -d)"
    args=(--package "$package" --no-shuffle -o "$out")
    for file in $files; do
        args+=(-f "$file")
    done
    echo "mutants: $package: $files" >&2
    # Exit code 2 means missed mutants, which are judged against the exceptions below.
    # shellcheck disable=SC2086
    cargo mutants "${args[@]}" -- $test_args >"$out/log" 2>&1 || true
    missed="$out/mutants.out/missed.txt"
    if [ ! -f "$out/mutants.out/outcomes.json" ]; then
        echo "mutants: $package: cargo-mutants did not run; its log:" >&2
        tail -n 30 "$out/log" >&2
        status=1
        continue
    fi
    tail -n 1 "$out/log" >&2
    if [ -s "$missed" ]; then
        while IFS= read -r line; do
            # An exception names the mutant as cargo-mutants prints it, without its line:column.
            key="$(sed -E 's/:[0-9]+:[0-9]+:/:/' <<<"$line")"
            if ! grep -Fq -- "$key" "$exceptions" 2>/dev/null; then
                echo "mutants: MISSED (no exception): $line" >&2
                status=1
            fi
        done <"$missed"
    fi
done
exit "$status"
