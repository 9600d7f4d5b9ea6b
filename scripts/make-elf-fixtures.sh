#!/usr/bin/env bash
# Remakes the ELF test fixtures: each test/fixtures/elf/NAME.yaml becomes NAME.elf via LLVM 14's yaml2obj.
set -euo pipefail
cd "$(dirname "$0")/../test/fixtures/elf"
YAML2OBJ="${YAML2OBJ:-/usr/lib/llvm-14/bin/yaml2obj}"
for source in *.yaml; do
  "$YAML2OBJ" "$source" -o "${source%.yaml}.elf"
  echo "${source%.yaml}.elf"
done
