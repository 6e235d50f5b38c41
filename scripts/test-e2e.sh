#!/usr/bin/env bash
# Node test-runner stages (test/e2e by default: real processes; test/unit when given), TypeScript through tsx.
# Files run one at a time (they share the e2e chain port); the last line is "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./test/support/node-summary-reporter.mjs --test-reporter-destination=stdout \
  ${@:-test/e2e/*.test.ts}
