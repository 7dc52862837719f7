#!/usr/bin/env bash
# Compiles the Solidity contracts with the pinned solc (the npm package solc,
# installed into a temporary directory) and writes the artifacts committed
# beside them: out/*.json and testtoken/out/*.json.
#
#   contracts/build.sh          rewrite the committed artifacts
#   contracts/build.sh --check  recompile and fail if any artifact differs
set -euo pipefail
SOLC_VERSION=0.8.30 # exact; must match the pragma in every .sol file

cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
npm install --silent --no-audit --no-fund --no-save --prefix "$work" "solc@$SOLC_VERSION" >/dev/null

case "${1:-}" in
"")
	node build.js "$work/node_modules/solc" .
	;;
--check)
	node build.js "$work/node_modules/solc" "$work/build"
	status=0
	for dir in out testtoken/out; do
		diff -r "$dir" "$work/build/$dir" || status=1
	done
	if [ "$status" -ne 0 ]; then
		echo "contracts: the committed artifacts differ from solc $SOLC_VERSION's output; run contracts/build.sh" >&2
		exit 1
	fi
	echo "contracts: artifacts match solc $SOLC_VERSION"
	;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac
