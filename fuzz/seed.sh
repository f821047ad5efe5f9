#!/usr/bin/env bash
# Seeds the fuzz corpora from the documents the project already has.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p fuzz/corpus/validate fuzz/corpus/migrate
cp docs/spec/examples/*.yaml crates/mlspec/tests/fixtures/invalid/*.yaml fuzz/corpus/validate/
find ../shared/seed-examples -name '*.y*ml' -exec cp {} fuzz/corpus/migrate/ \;
