#!/usr/bin/env bash
# Project-local PostgreSQL and Redis for development and tests.
#
#   scripts/services.sh up       start what is needed (idempotent), write .var/services.env
#   scripts/services.sh down     stop what `up` started (quiet no-op when nothing runs)
#   scripts/services.sh status   print the state of each service
#
# Everything lives under .var/ in the project root. A service is skipped when its URL
# (DATABASE_URL / REDIS_URL) is already set in the process environment or in .env.
#
# Settings (environment):
#   AURORA_PG_PORT      PostgreSQL port on 127.0.0.1 (default 54329)
#   AURORA_REDIS_PORT   Redis port on 127.0.0.1 (default 63799)
#
# .var/services.env (mode 600) gets DATABASE_URL / REDIS_URL for the services managed
# here, plus a SECRET_KEY that is generated once and then kept.
#
# PostgreSQL refuses to run as root. When run as root, the server runs as the `postgres`
# system user and its data area lives in /var/tmp/aurora-pg-<hash of project root>/
# (the checkout may be in a home directory the postgres user cannot enter);
# .var/postgres is then a symlink to it.
set -euo pipefail

umask 077

ROOT=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
VAR=$ROOT/.var
ENV_OUT=$VAR/services.env
TIMEOUT=30

PG_PORT=${AURORA_PG_PORT:-54329}
PG_APP=aurora # the application's role (and the database's name): owns nothing, NOT a superuser (RLS)
PG_APP_PWFILE=$VAR/postgres-aurora.password
PG_OWNER=aurora_owner # owns the schema: migrations, grants, backups (README, Security)
PG_OWNER_PWFILE=$VAR/postgres-aurora-owner.password
PG_LINK=$VAR/postgres

REDIS_PORT=${AURORA_REDIS_PORT:-63799}
REDIS_DIR=$VAR/redis
REDIS_PIDFILE=$REDIS_DIR/redis.pid
REDIS_LOG=$REDIS_DIR/redis.log
REDIS_CONF=$REDIS_DIR/redis.conf
REDIS_PWFILE=$VAR/redis.password

# ----------------------------------------------------------------------------- helpers

say() { printf '%s\n' "$*"; }
die() { printf '%s\n' "$*" >&2; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

# die_with_log <message> <logfile>: fail and show the end of the service's log.
die_with_log() {
	local msg=$1 log=$2
	{
		printf '%s\n' "$msg"
		if [[ -r $log ]]; then
			printf -- '--- last lines of %s ---\n' "$log"
			tail -n 25 -- "$log"
		fi
	} >&2
	exit 1
}

check_port_var() {
	if ! [[ $2 =~ ^[0-9]+$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
		die "$1 must be a TCP port number, got '$2'"
	fi
}

# rand_str <n>: n random characters from [A-Za-z0-9] (safe in URLs, SQL literals and .env).
rand_str() {
	local n=$1 out='' b
	local chars=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789
	while ((${#out} < n)); do
		for b in $(od -An -tu1 -N64 /dev/urandom); do
			((b < 248)) || continue # 248 = 4*62: keeps the distribution uniform
			out+=${chars:b%62:1}
			((${#out} < n)) || break
		done
	done
	printf '%s' "$out"
}

# secret <file> <length>: print the secret stored in file, creating it (mode 600) if needed.
secret() {
	local file=$1 len=$2 value=''
	if [[ -s $file ]]; then
		IFS= read -r value <"$file" || true
		[[ $value =~ ^[A-Za-z0-9._~-]+$ ]] ||
			die "$file does not contain a usable secret (expected letters/digits); delete it to regenerate."
	else
		value=$(rand_str "$len")
		printf '%s\n' "$value" >"$file"
	fi
	chmod 600 "$file"
	printf '%s' "$value"
}

# Name of the process with that pid, empty when it does not run. A zombie (exited, not
# yet reaped, common in containers whose PID 1 does not reap) counts as not running.
proc_name() {
	local pid=$1 stat
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	if [[ -d /proc/self ]]; then
		stat=$(cat "/proc/$pid/stat" 2>/dev/null || true)
		[[ -n $stat && ${stat##*) } != Z* && ${stat##*) } != X* ]] || return 0
		cat "/proc/$pid/comm" 2>/dev/null || true
	elif command -v ps >/dev/null 2>&1; then
		[[ $(ps -o stat= -p "$pid" 2>/dev/null || true) != Z* ]] || return 0
		basename -- "$(ps -o comm= -p "$pid" 2>/dev/null || true)" 2>/dev/null || true
	elif kill -0 "$pid" 2>/dev/null; then
		echo unknown
	fi
}

# Is the process running in <dir>? PostgreSQL runs in its data directory and Redis in its
# --dir, so this tells our server from one whose pid file was copied along with a checkout.
# Where /proc is not available we cannot tell and assume yes.
proc_in_dir() {
	local cwd
	[[ -d /proc/self ]] || return 0
	cwd=$(readlink "/proc/$1/cwd" 2>/dev/null) || return 0
	[[ $cwd == "$(cd -P -- "$2" 2>/dev/null && pwd -P)" ]]
}

pid_gone() { [[ -z $(proc_name "$1") ]]; }

# Does anything accept TCP connections on 127.0.0.1:<port>?
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until <seconds> <command...>
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

# Value of KEY in .var/services.env (empty if none).
managed_value() {
	[[ -r $ENV_OUT ]] || return 0
	grep -E "^$1=" "$ENV_OUT" 2>/dev/null | tail -n 1 | cut -d= -f2- || true
}

# Where does the user supply KEY? Prints "the environment", ".env" or nothing.
# A value in the environment that equals the one we wrote to .var/services.env is ours
# (someone sourced that file), so it does not count.
url_source() {
	local key=$1 val
	val=${!key:-}
	if [[ -n $val && $val != "$(managed_value "$key")" ]]; then
		echo "the environment"
	elif [[ -f $ROOT/.env ]] && grep -Eq "^[[:space:]]*(export[[:space:]]+)?$key=[^[:space:]]" "$ROOT/.env"; then
		echo ".env"
	fi
}

# Serialise concurrent up/down runs (fd 9 is closed for every daemon we start).
take_lock() {
	mkdir -p "$VAR"
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$VAR/.services.lock"
		flock -w 120 9 || die "timed out waiting for another scripts/services.sh run ($VAR/.services.lock)"
	fi
}

# ------------------------------------------------------------------------- PostgreSQL

PG_BIN_MISSING=""

# Locate a PostgreSQL program: the directory of initdb first (same version), then PATH,
# then the newest /usr/lib/postgresql/*/bin.
pg_find() {
	local tool=$1 dir newest=''
	if [[ -n ${PG_BINDIR:-} && -x $PG_BINDIR/$tool ]]; then
		echo "$PG_BINDIR/$tool"
		return
	fi
	if command -v "$tool" >/dev/null 2>&1; then
		command -v "$tool"
		return
	fi
	for dir in /usr/lib/postgresql/*/bin; do
		[[ -x $dir/$tool ]] && newest=$(printf '%s\n%s\n' "$newest" "$dir" | sed '/^$/d' | sort -V | tail -n 1)
	done
	[[ -n $newest ]] && echo "$newest/$tool"
	return 0
}

pg_find_bins() {
	PG_BINDIR=''
	INITDB=$(pg_find initdb)
	[[ -n $INITDB ]] && PG_BINDIR=$(dirname -- "$INITDB")
	PG_CTL=$(pg_find pg_ctl)
	PG_ISREADY=$(pg_find pg_isready)
	PSQL=$(pg_find psql)
	PG_BIN_MISSING=''
	[[ -n $INITDB ]] || PG_BIN_MISSING+=' initdb'
	[[ -n $PG_CTL ]] || PG_BIN_MISSING+=' pg_ctl'
	[[ -n $PG_ISREADY ]] || PG_BIN_MISSING+=' pg_isready'
	[[ -n $PSQL ]] || PG_BIN_MISSING+=' psql'
}

# Work out where the data lives and which user runs the server (no side effects).
pg_layout() {
	PG_RUNAS=''
	PG_AREA=$PG_LINK
	PG_SHOW=.var/postgres
	if is_root; then
		if [[ -d $PG_LINK && ! -L $PG_LINK ]]; then
			# A plain directory made by an ordinary user (e.g. `sudo scripts/services.sh down`).
			PG_RUNAS=$(stat -c %U -- "$PG_LINK")
			[[ $PG_RUNAS != root ]] ||
				die "postgres: $PG_LINK is a directory owned by root, but PostgreSQL cannot run as root. Remove it and run 'scripts/services.sh up' again."
		else
			local hash
			hash=$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
			PG_AREA=/var/tmp/aurora-pg-$hash
			PG_RUNAS=postgres
			PG_SHOW=".var/postgres -> $PG_AREA"
		fi
	fi
	PG_DATA=$PG_AREA/data
	PG_LOG=$PG_AREA/postgres.log
	PG_SOCKDIR=$PG_AREA/run
	PG_SUPW=$PG_AREA/superuser.password
}

# Run a server-side PostgreSQL program as the right user; fd 9 (our lock) is not inherited.
pg_run() {
	if [[ -n $PG_RUNAS ]]; then
		(cd / && runuser -u "$PG_RUNAS" -- "$@" 9>&-)
	else
		"$@" 9>&-
	fi
}

# Give a file/dir we created inside the data area to the server user.
pg_own() { if [[ -n $PG_RUNAS ]]; then chown "$PG_RUNAS" -- "$@"; fi; }

# Is our server running? Sets PG_RUNNING_PORT. Handles stale pid files (crash/reboot).
pg_running() {
	local pidfile=$PG_DATA/postmaster.pid pid name
	PG_RUNNING_PORT=''
	[[ -r $pidfile ]] || return 1
	pid=$(sed -n 1p "$pidfile" 2>/dev/null || true)
	name=$(proc_name "$pid")
	[[ $name == postgres* || $name == postmaster* || $name == unknown ]] || return 1
	proc_in_dir "$pid" "$PG_DATA" || return 1
	PG_RUNNING_PORT=$(sed -n 4p "$pidfile" 2>/dev/null || true)
	return 0
}

pg_ready() { "$PG_ISREADY" -q -h 127.0.0.1 -p "$PG_PORT" -t 1 >/dev/null 2>&1; }

pg_missing_message() {
	echo "postgres: PostgreSQL server programs not found (missing:$PG_BIN_MISSING; looked on PATH and in /usr/lib/postgresql/*/bin)." \
		"Install PostgreSQL (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql)," \
		"or set DATABASE_URL to an existing server."
}

pg_prepare_area() {
	if is_root; then
		command -v runuser >/dev/null 2>&1 || die "postgres: running as root needs 'runuser' (util-linux) to start PostgreSQL as the postgres user."
		if [[ $PG_RUNAS == postgres ]] && ! id -u postgres >/dev/null 2>&1; then
			useradd --system --home /nonexistent --shell /usr/sbin/nologin postgres ||
				die "postgres: could not create the 'postgres' system user (PostgreSQL cannot run as root)."
		fi
		if [[ $PG_AREA != "$PG_LINK" ]]; then
			mkdir -p -- "$PG_AREA"
			chown "$PG_RUNAS" -- "$PG_AREA"
			chmod 700 -- "$PG_AREA"
			# Point .var/postgres at this checkout's area (also fixes a link copied from elsewhere).
			if [[ ! -L $PG_LINK || $(readlink -- "$PG_LINK") != "$PG_AREA" ]]; then
				ln -sfn -- "$PG_AREA" "$PG_LINK"
			fi
		fi
	else
		if [[ -L $PG_LINK && ! -w $PG_LINK/ ]]; then
			die "postgres: .var/postgres points to $(readlink -- "$PG_LINK"), which was set up by root and is not writable by $(id -un). Run as root, or remove .var/postgres (and that directory) to start over."
		fi
		mkdir -p -- "$PG_AREA"
		chmod 700 -- "$PG_AREA"
	fi
	mkdir -p -- "$PG_SOCKDIR"
	pg_own "$PG_SOCKDIR"
}

pg_initdb() {
	local ver
	if [[ -f $PG_DATA/PG_VERSION ]]; then
		ver=$("$PG_CTL" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/') # "pg_ctl (PostgreSQL) 15.4" -> 15
		[[ $(cat "$PG_DATA/PG_VERSION") == "$ver" ]] ||
			die "postgres: the data in $PG_SHOW was created by PostgreSQL $(cat "$PG_DATA/PG_VERSION") but the programs found are version $ver ($PG_BINDIR). Run 'scripts/services.sh down' and remove .var/postgres to start over, or put the matching version on PATH."
		[[ -s $PG_SUPW ]] ||
			die "postgres: $PG_SUPW (superuser password) is missing, so the cluster in $PG_SHOW cannot be administered. Run 'scripts/services.sh down' and remove .var/postgres to start over."
		return 0
	fi
	# A half-made data directory from an interrupted initdb: it is ours, start over.
	[[ ! -e $PG_DATA ]] || rm -rf -- "$PG_DATA"
	rand_str 32 >"$PG_SUPW"
	chmod 600 "$PG_SUPW"
	pg_own "$PG_SUPW"
	if ! pg_run "$INITDB" -D "$PG_DATA" --auth=scram-sha-256 --username=postgres \
		--pwfile="$PG_SUPW" --encoding=UTF8 --locale=C >"$PG_AREA/initdb.log" 2>&1; then
		die_with_log "postgres: initdb failed." "$PG_AREA/initdb.log"
	fi
	printf "\ninclude_if_exists = 'aurora.conf'\n" >>"$PG_DATA/postgresql.conf"
}

# Write data/aurora.conf; returns 0 when it changed.
pg_write_conf() {
	local conf=$PG_DATA/aurora.conf sockdir=$PG_SOCKDIR new
	# Unix socket paths are limited to ~107 bytes; fall back to TCP only when too long.
	((${#sockdir} + 16 < 100)) || sockdir=''
	new=$(
		cat <<EOF
# Managed by scripts/services.sh (rewritten on every 'up'); included from postgresql.conf.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$sockdir'
max_connections = 100
password_encryption = 'scram-sha-256'
# Durable like any PostgreSQL: fsync, synchronous_commit and full_page_writes stay on. (The test
# suite alone turns synchronous_commit off, for its own sessions: tests/conftest.py.)
EOF
	)
	if [[ -f $conf && "$(cat "$conf")" == "$new" ]]; then
		return 1
	fi
	printf '%s\n' "$new" >"$conf.tmp"
	pg_own "$conf.tmp"
	mv -f -- "$conf.tmp" "$conf"
	return 0
}

pg_port_conflict() {
	die "postgres: port $PG_PORT on 127.0.0.1 is already in use by another process (not the PostgreSQL in .var/postgres). Stop it, or choose another port, e.g. AURORA_PG_PORT=$((PG_PORT + 1)) scripts/services.sh up"
}

pg_bootstrap() {
	local supw app_pw owner_pw
	supw=$(cat "$PG_SUPW")
	app_pw=$(secret "$PG_APP_PWFILE" 32)
	owner_pw=$(secret "$PG_OWNER_PWFILE" 32)
	# Superuser only for this. Two roles: the schema owner (may create databases: the test runner's)
	# and the application's role, which owns nothing, is not a superuser (row-level security does not
	# apply to superusers) and gets its privileges per table from `migrate`. A cluster made before
	# the split, where the application's role owned everything, is handed over to the owner.
	if ! PGPASSWORD=$supw PGCONNECT_TIMEOUT=10 "$PSQL" -X -q -v ON_ERROR_STOP=1 \
		-h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres >"$PG_AREA/bootstrap.log" 2>&1 <<SQL; then
SELECT 'CREATE ROLE $PG_OWNER' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_OWNER') \gexec
ALTER ROLE $PG_OWNER WITH LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '$owner_pw';
SELECT 'CREATE ROLE $PG_APP' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_APP') \gexec
ALTER ROLE $PG_APP WITH LOGIN NOCREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '$app_pw';
SELECT 'CREATE DATABASE $PG_APP OWNER $PG_OWNER' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_APP') \gexec
SELECT format('ALTER DATABASE %I OWNER TO $PG_OWNER', datname) FROM pg_database
 WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = '$PG_APP') \gexec
\connect $PG_APP
REASSIGN OWNED BY $PG_APP TO $PG_OWNER;
SQL
		die_with_log "postgres: creating the '$PG_OWNER' and '$PG_APP' roles and the database failed." "$PG_AREA/bootstrap.log"
	fi
	DATABASE_URL_VALUE="postgres://$PG_APP:$app_pw@127.0.0.1:$PG_PORT/$PG_APP"
	DATABASE_OWNER_URL_VALUE="postgres://$PG_OWNER:$owner_pw@127.0.0.1:$PG_PORT/$PG_APP"
}

pg_up() {
	pg_layout
	pg_prepare_area
	pg_initdb
	local changed=false
	pg_write_conf && changed=true

	if pg_running; then
		if $changed || [[ $PG_RUNNING_PORT != "$PG_PORT" ]]; then
			if [[ $PG_RUNNING_PORT != "$PG_PORT" ]] && port_in_use "$PG_PORT"; then pg_port_conflict; fi
			pg_run "$PG_CTL" -D "$PG_DATA" -l "$PG_LOG" -m fast -w -t "$TIMEOUT" -s restart >/dev/null 2>&1 ||
				die_with_log "postgres: restart with the new settings failed." "$PG_LOG"
		fi
	else
		# Not running. A pid file or socket lock left by a crash or reboot is stale.
		# PostgreSQL normally copes, but not when the recorded pid now belongs to another
		# process of the same user, or to an unreaped zombie (containers without an init).
		# The socket directory is private to this cluster, so clearing it is safe.
		rm -f -- "$PG_DATA/postmaster.pid" "$PG_SOCKDIR"/.s.PGSQL.*
		port_in_use "$PG_PORT" && pg_port_conflict
		pg_run "$PG_CTL" -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" -s start >/dev/null 2>&1 ||
			die_with_log "postgres: failed to start (or not ready within ${TIMEOUT}s)." "$PG_LOG"
	fi
	wait_until "$TIMEOUT" pg_ready ||
		die_with_log "postgres: not accepting connections on 127.0.0.1:$PG_PORT after ${TIMEOUT}s." "$PG_LOG"
	pg_bootstrap
	say "postgres: running on 127.0.0.1:$PG_PORT (data in $PG_SHOW)"
}

pg_down() {
	pg_layout
	pg_running || return 0
	local pid
	pid=$(sed -n 1p "$PG_DATA/postmaster.pid")
	pg_find_bins
	if [[ -n $PG_CTL ]]; then
		pg_run "$PG_CTL" -D "$PG_DATA" -m fast -w -t "$TIMEOUT" -s stop >/dev/null 2>&1 || true
	fi
	if ! pid_gone "$pid"; then
		kill -INT "$pid" 2>/dev/null || true # SIGINT = fast shutdown
		wait_until "$TIMEOUT" pid_gone "$pid" ||
			die_with_log "postgres: did not stop (pid $pid)." "$PG_LOG"
	fi
	say "postgres: stopped"
}

pg_status() {
	local src
	src=$(url_source DATABASE_URL)
	if [[ -n $src ]]; then
		say "postgres: using DATABASE_URL from $src"
		return
	fi
	if ! is_root && [[ -L $PG_LINK && ! -r $PG_LINK/ ]]; then
		say "postgres: unknown (.var/postgres was set up by root; run status as root)"
		return
	fi
	pg_layout
	if pg_running; then
		say "postgres: running on 127.0.0.1:${PG_RUNNING_PORT:-?} (data in $PG_SHOW)"
	elif [[ -f $PG_DATA/PG_VERSION ]]; then
		say "postgres: stopped (data in $PG_SHOW)"
	else
		say "postgres: not set up (run scripts/services.sh up)"
	fi
}

# ------------------------------------------------------------------------------ Redis

redis_ping() {
	[[ "$(REDISCLI_AUTH=$REDIS_PW redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null || true)" == PONG ]]
}

redis_pid() {
	local pid=''
	[[ -r $REDIS_PIDFILE ]] && pid=$(sed -n 1p "$REDIS_PIDFILE" 2>/dev/null || true)
	[[ $(proc_name "$pid") == redis* ]] && proc_in_dir "$pid" "$REDIS_DIR" && echo "$pid"
	return 0
}

redis_stop_pid() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || true
	wait_until "$TIMEOUT" pid_gone "$pid" ||
		die_with_log "redis: did not stop (pid $pid)." "$REDIS_LOG"
	rm -f -- "$REDIS_PIDFILE"
}

redis_missing_message() {
	echo "redis: redis-server/redis-cli not found on PATH." \
		"Install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)," \
		"or set REDIS_URL to an existing server."
}

redis_up() {
	local pid
	mkdir -p -- "$REDIS_DIR"
	chmod 700 -- "$REDIS_DIR"
	REDIS_PW=$(secret "$REDIS_PWFILE" 32)
	# The password goes in a mode-600 file rather than on the command line (visible in ps).
	printf '# Managed by scripts/services.sh\nrequirepass %s\n' "$REDIS_PW" >"$REDIS_CONF"
	chmod 600 -- "$REDIS_CONF"

	pid=$(redis_pid)
	if [[ -n $pid ]] && ! redis_ping; then
		# Ours, but on another port or with another password: restart it.
		redis_stop_pid "$pid"
		pid=''
	fi
	if [[ -z $pid ]]; then
		rm -f -- "$REDIS_PIDFILE"
		if port_in_use "$REDIS_PORT"; then
			die "redis: port $REDIS_PORT on 127.0.0.1 is already in use by another process (not the Redis in .var/redis). Stop it, or choose another port, e.g. AURORA_REDIS_PORT=$((REDIS_PORT + 1)) scripts/services.sh up"
		fi
		if ! redis-server "$REDIS_CONF" --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
			--pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" --dir "$REDIS_DIR" \
			--save '' --appendonly yes --appendfsync everysec >"$REDIS_DIR/start.log" 2>&1 9>&-; then
			cat "$REDIS_DIR/start.log" >>"$REDIS_LOG" 2>/dev/null || true
			die_with_log "redis: redis-server failed to start." "$REDIS_LOG"
		fi
		echo "$REDIS_PORT" >"$REDIS_DIR/port"
	fi
	wait_until "$TIMEOUT" redis_ping ||
		die_with_log "redis: not answering on 127.0.0.1:$REDIS_PORT after ${TIMEOUT}s." "$REDIS_LOG"
	REDIS_URL_VALUE="redis://:$REDIS_PW@127.0.0.1:$REDIS_PORT/0"
	say "redis: running on 127.0.0.1:$REDIS_PORT (data in .var/redis)"
}

redis_down() {
	local pid
	[[ -d $REDIS_DIR ]] || return 0
	pid=$(redis_pid)
	if [[ -n $pid ]]; then
		redis_stop_pid "$pid"
		say "redis: stopped"
	elif [[ -s $REDIS_PWFILE ]] && command -v redis-cli >/dev/null 2>&1; then
		# No pid file, but something answers on our port with our password: that is ours.
		REDIS_PW=$(cat "$REDIS_PWFILE")
		if redis_ping; then
			REDISCLI_AUTH=$REDIS_PW redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
			say "redis: stopped"
		fi
	fi
}

redis_status() {
	local src pid
	src=$(url_source REDIS_URL)
	if [[ -n $src ]]; then
		say "redis: using REDIS_URL from $src"
		return
	fi
	pid=$(redis_pid)
	if [[ -n $pid ]]; then
		say "redis: running on 127.0.0.1:$(cat "$REDIS_DIR/port" 2>/dev/null || echo "$REDIS_PORT") (data in .var/redis)"
	elif [[ -d $REDIS_DIR ]]; then
		say "redis: stopped (data in .var/redis)"
	else
		say "redis: not set up (run scripts/services.sh up)"
	fi
}

# --------------------------------------------------------------------------- commands

write_env_file() {
	local key tmp
	key=$(managed_value SECRET_KEY)
	[[ -n $key ]] || key=$(rand_str 50)
	tmp=$(mktemp "$VAR/.services.env.XXXXXX")
	{
		echo "# Written by scripts/services.sh; rewritten on every 'up'. Do not edit."
		[[ -z ${DATABASE_URL_VALUE:-} ]] || echo "DATABASE_URL=$DATABASE_URL_VALUE"
		[[ -z ${DATABASE_OWNER_URL_VALUE:-} ]] || echo "DATABASE_OWNER_URL=$DATABASE_OWNER_URL_VALUE"
		[[ -z ${REDIS_URL_VALUE:-} ]] || echo "REDIS_URL=$REDIS_URL_VALUE"
		echo "SECRET_KEY=$key"
		echo "# The local set-up is for development: the demo app (demo data, simulated providers) is on."
		echo "DEMO_APP=true"
	} >"$tmp"
	chmod 600 -- "$tmp"
	mv -f -- "$tmp" "$ENV_OUT"
}

cmd_up() {
	check_port_var AURORA_PG_PORT "$PG_PORT"
	check_port_var AURORA_REDIS_PORT "$REDIS_PORT"
	local pg_src redis_src missing=''
	pg_src=$(url_source DATABASE_URL)
	redis_src=$(url_source REDIS_URL)

	# Check every prerequisite before starting anything.
	if [[ -z $pg_src ]]; then
		pg_find_bins
		[[ -z $PG_BIN_MISSING ]] || missing+="$(pg_missing_message)"$'\n'
	fi
	if [[ -z $redis_src ]] && ! { command -v redis-server && command -v redis-cli; } >/dev/null 2>&1; then
		missing+="$(redis_missing_message)"$'\n'
	fi
	[[ -z $missing ]] || die "${missing%$'\n'}"

	take_lock
	if [[ -n $pg_src ]]; then say "postgres: using DATABASE_URL from $pg_src"; else pg_up; fi
	if [[ -n $redis_src ]]; then say "redis: using REDIS_URL from $redis_src"; else redis_up; fi
	write_env_file
}

cmd_down() {
	[[ -d $VAR ]] || return 0
	take_lock
	pg_down
	redis_down
}

cmd_status() {
	(pg_status) || say "postgres: unknown (see the message above)"
	(redis_status) || say "redis: unknown (see the message above)"
	return 0
}

usage() {
	cat <<EOF
usage: scripts/services.sh up|down|status

  up      start project-local PostgreSQL and Redis under .var/ (unless DATABASE_URL /
          REDIS_URL are set in the environment or .env) and write .var/services.env
  down    stop them
  status  show their state

Ports: AURORA_PG_PORT (default 54329), AURORA_REDIS_PORT (default 63799), on 127.0.0.1.
EOF
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
-h | --help | help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
