# Shared by scripts/backup and scripts/restore (sourced): the database URLs, read the way
# aurora/settings.py reads them (the environment, then the files in AURORA_ENV_FILES, default
# .env then .var/services.env), and taken apart for libpq. Needs ROOT and die().

env_file_value() { # env_file_value FILE KEY: the last KEY=value of FILE, quotes removed
	local value
	value=$(sed -n -E "s/^[[:space:]]*(export[[:space:]]+)?$2=//p" "$1" | tail -n 1)
	value=${value%$'\r'}
	if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
	printf '%s' "$value"
}

setting() { # setting KEY: from the environment, else the first env file that has it
	if [[ -n ${!1:-} ]]; then
		printf '%s' "${!1}"
		return
	fi
	local files file value
	IFS=, read -r -a files <<<"${AURORA_ENV_FILES-.env,.var/services.env}"
	for file in "${files[@]}"; do
		file=${file// /}
		[[ -n $file && -f $ROOT/$file && -r $ROOT/$file ]] || continue
		value=$(env_file_value "$ROOT/$file" "$1")
		if [[ -n $value ]]; then
			printf '%s' "$value"
			return
		fi
	done
}

URL_RE='^(postgres|postgresql|pgsql|postgis)://(([^@/?#]*)@)?([^/?#]*)(/([^?#]*))?(\?[^#]*)?$'

# split_url URL: PG_URL (the URL without its password, for libpq), PG_PASS (decoded), PG_AUTH
# and PG_HOSTPORT (the URL's pieces, to name another database), PG_QUERY, PG_USER, PG_HOST, PG_DB.
split_url() {
	[[ $1 =~ $URL_RE ]] || die "not a postgres:// URL: ${1%%@*}…"
	PG_AUTH=${BASH_REMATCH[2]}
	local userinfo=${BASH_REMATCH[3]} query=${BASH_REMATCH[7]}
	PG_HOSTPORT=${BASH_REMATCH[4]}
	PG_DB=${BASH_REMATCH[6]}
	PG_QUERY=$query
	PG_USER=${userinfo%%:*}
	PG_PASS=''
	if [[ $userinfo == *:* ]]; then
		PG_PASS=${userinfo#*:}
		PG_PASS=$(printf '%b' "${PG_PASS//%/\\x}")
	fi
	PG_HOST=${PG_HOSTPORT:-local socket}
	PG_URL="postgresql://${PG_USER:+$PG_USER@}$PG_HOSTPORT/$PG_DB$query"
	[[ -n $PG_DB ]] || die "the URL names no database"
}

# as_owner URL: URL with the login of DATABASE_OWNER_URL (the schema owner) when one is set; its
# server and database stay URL's, as in the settings.
as_owner() {
	local owner
	owner=$(setting DATABASE_OWNER_URL)
	if [[ -z $owner ]]; then
		printf '%s' "$1"
		return
	fi
	[[ $owner =~ $URL_RE ]] || die "DATABASE_OWNER_URL is not a postgres:// URL"
	local owner_auth=${BASH_REMATCH[2]}
	[[ $1 =~ $URL_RE ]] || die "not a postgres:// URL: ${1%%@*}…"
	printf '%s://%s%s%s%s' "${BASH_REMATCH[1]}" "$owner_auth" "${BASH_REMATCH[4]}" "${BASH_REMATCH[5]}" "${BASH_REMATCH[7]}"
}
