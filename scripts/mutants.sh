#!/usr/bin/env bash
# The mutation check of the evidence core: cargo-mutants on the files where a false "contained"
# would be born, each against the tests that must pin it. Fails on a missed mutant that is not in
# scripts/mutants-exceptions.txt (each exception with its reason).
#
#   scripts/mutants.sh                        every group, every mutant (about 1.5 h on 2 cores)
#   scripts/mutants.sh --changed-since REV    only the groups with a file changed since REV, and
#                                             in them only the mutants on changed lines
#                                             (cargo-mutants --in-diff): what .ci/run runs
#   scripts/mutants.sh --groups-changed-since REV
#                                             prints the packages of the groups that
#                                             --changed-since REV would run (nothing: none)
#
# Needs cargo-mutants (`cargo install cargo-mutants --locked`), except for
# --groups-changed-since. Groups: "package|files|test args".
set -euo pipefail
cd "$(dirname "$0")/.."

MUTANT_GROUPS=(
    # The record parser: what the fixtures printed, read back.
    "bottle-fixtures|fixtures/src/records/line.rs fixtures/src/records/kinds.rs|--lib"
    # The hostile-input parser of the probe's output.
    "bottle-probes|probes/src/wire/parser.rs probes/src/wire/observation.rs probes/src/wire/spec.rs probes/src/wire/refusal.rs probes/src/wire/percent.rs|--lib --test parser_corpus --test parser_fuzz"
    # The docker backend's reader of the fixtures' logs.
    "bottle-backends|backends/src/docker/records.rs|--lib"
    # The verdict rules (every file of the module, those added later too).
    "bottle-harness|harness/src/verdict/*.rs|--lib --test verdicts"
    # The plan's nonce, id, stage and timeout bookkeeping.
    "bottle-harness|harness/src/plan/attempts.rs harness/src/plan/build.rs|--test plans --test plan_bookkeeping"
    # Known-gap matching and expiry; the report diff's regression rule.
    "bottle-harness|harness/src/gaps.rs harness/src/report/diff.rs|--lib --test verdicts --test reports"
)

mode="all"
since=""
case "${1:-}" in
    "") ;;
    --changed-since | --groups-changed-since)
        mode="${1#--}"
        since="${2:?$1 takes a revision}"
        ;;
    *)
        echo "usage: $0 [--changed-since REV | --groups-changed-since REV]" >&2
        exit 2
        ;;
esac

# The files of a group changed since $since (all of them when every mutant is wanted).
changed_files() {
    local files="$1"
    if [ "$mode" = "all" ]; then
        echo "$files"
    else
        # shellcheck disable=SC2086
        git diff --name-only "$since" HEAD -- $files
    fi
}

if [ "$mode" = "groups-changed-since" ]; then
    for group in "${MUTANT_GROUPS[@]}"; do
        IFS='|' read -r package files _ <<<"$group"
        if [ -n "$(changed_files "$files")" ]; then
            echo "$package"
        fi
    done
    exit 0
fi

# The in-bottle binaries are not needed by these tests; building them would only cost time.
export CLAUDE_BOTTLE_SKIP_IN_BOTTLE_BUILD=1
# No debug info: each mutant's build links faster.
export CARGO_PROFILE_DEV_DEBUG=0

exceptions="scripts/mutants-exceptions.txt"
status=0
for group in "${MUTANT_GROUPS[@]}"; do
    IFS='|' read -r package files test_args <<<"$group"
    if [ -z "$(changed_files "$files")" ]; then
        echo "mutants: $package: none of $files changed since $since" >&2
        continue
    fi
    out="$(mktemp -d)"
    args=(--package "$package" --no-shuffle -o "$out")
    for file in $files; do
        args+=(-f "$file")
    done
    if [ "$mode" = "changed-since" ]; then
        # shellcheck disable=SC2086
        git diff "$since" HEAD -- $files >"$out/changes.diff"
        args+=(--in-diff "$out/changes.diff")
    fi
    echo "mutants: $package: $files" >&2
    # Exit code 2 means missed mutants, which are judged against the exceptions below.
    # shellcheck disable=SC2086
    cargo mutants "${args[@]}" -- $test_args >"$out/log" 2>&1 || true
    missed="$out/mutants.out/missed.txt"
    if [ ! -f "$out/mutants.out/outcomes.json" ]; then
        # cargo-mutants' own words when the changed lines hold no mutant.
        if grep -Eq "No mutants to filter|Diff file is empty|No mutants found" "$out/log"; then
            echo "mutants: $package: no mutant on the changed lines" >&2
            continue
        fi
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
            if ! grep -Fq -- "$key  #" "$exceptions" 2>/dev/null; then
                echo "mutants: MISSED (no exception): $line" >&2
                status=1
            fi
        done <"$missed"
    fi
done
exit "$status"
