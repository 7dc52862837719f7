#!/usr/bin/env bash
# Makes sure the services the tests need are up, starting them if this
# machine has them installed but stopped, and fails loudly otherwise.
set -euo pipefail

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { [ "$( (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3) 2>/dev/null)" = "+PONG" ]; }

if ! pg_up && command -v pg_ctlcluster >/dev/null; then
	pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
	for _ in $(seq 30); do pg_up && break; sleep 1; done
fi
pg_up || { echo "PostgreSQL is not reachable on 127.0.0.1:5432: the PostgreSQL suite cannot run" >&2; exit 1; }
echo "PostgreSQL: up"

if ! redis_up && command -v redis-server >/dev/null; then
	redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
	for _ in $(seq 30); do redis_up && break; sleep 1; done
fi
redis_up || { echo "Redis is not reachable on 127.0.0.1:6379: the Redis suite cannot run" >&2; exit 1; }
echo "Redis: up"

if ! command -v node >/dev/null; then
	apt-get update -qq && apt-get install -y -qq nodejs >/dev/null
fi
echo "node: $(node --version)"

# The checkout page's browser test drives Debian's headless Chromium.
if ! command -v chromium >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
echo "chromium: $(chromium --version 2>/dev/null || echo missing)"
