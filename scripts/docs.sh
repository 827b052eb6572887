#!/usr/bin/env bash
# Writes the API reference (TypeDoc) to docs/api/ from the TSDoc comments of the package's entry points
# (typedoc.json). TypeDoc runs on TypeScript 5.9's compiler API, which TypeScript 7 (the project's
# compiler) does not have, so both are installed into .cache/docs-tools, apart from the project's
# dependencies, on first use (needs the npm registry once).
#   npm run docs                                        # docs/api/index.html
#   npm run docs -- --validation.notDocumented true     # also list members without TSDoc
set -euo pipefail
cd "$(dirname "$0")/.."
tools=.cache/docs-tools
if [ ! -x "$tools/node_modules/.bin/typedoc" ]; then
  mkdir -p "$tools"
  printf '{ "name": "ablate-docs-tools", "private": true }\n' > "$tools/package.json"
  npm install --prefix "$tools" --no-audit --no-fund --no-save typedoc@0.28.20 typescript@5.9.3 >&2
fi
node "$tools/node_modules/typedoc/bin/typedoc" "$@"
echo "API reference: docs/api/index.html" >&2
