#!/usr/bin/env bash
# Runs the whole test suite with node's test runner (one process per file).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# The linter (biome.jsonc) first: seconds, and a finding fails the run before the long suite starts.
npx --no-install biome lint
# Test files spawn training children that share 2 cores: OpenMP threads must sleep, not spin, when they wait.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
mapfile -t files < <(find test -name '*.test.ts' | sort)
exec node --import tsx --test --test-reporter=spec "$@" "${files[@]}"
