#!/usr/bin/env bash
# Dependency currency: every direct dependency with its version and, where
# the module proxy knows one, the newer version. It fails only when a direct
# dependency is marked deprecated by its authors or its version retracted,
# never for lack of network: the module proxy is the only network CI has,
# and a report it cannot make is printed as such and passed.
set -uo pipefail
cd "$(dirname "$0")/.."

# Ask the configured proxy only: a "direct" fallback would try version
# control hosts CI cannot reach and fail slowly.
proxy="$(go env GOPROXY | sed -E 's/[,|]direct$//')"
format='{{if and (not .Main) (not .Indirect)}}{{.Path}} {{.Version}}{{with .Update}}  (newer: {{.Version}}){{end}}{{with .Deprecated}}  DEPRECATED: {{.}}{{end}}{{with .Retracted}}  RETRACTED: {{.}}{{end}}{{with .Error}}  (not checked: {{.Err}}){{end}}{{end}}'
if ! report="$(GOPROXY="$proxy" timeout 180 go list -e -m -u -retracted -f "$format" all 2>/tmp/cryptopay-deps.err)"; then
	echo "dependency report unavailable (module proxy unreachable?); not failing:"
	head -n 5 /tmp/cryptopay-deps.err
	exit 0
fi
echo "$report" | grep -v '^$'
if echo "$report" | grep -Eq '  (DEPRECATED|RETRACTED): '; then
	echo
	echo "a direct dependency is deprecated or retracted: replace or upgrade it"
	exit 1
fi
