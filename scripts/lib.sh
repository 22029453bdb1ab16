# Shared by the scripts: where the build lives, the Python venv the tests use, starting a server.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
venv="${IDSYNC_TEST_VENV:-$HOME/.cache/idsync/test-venv}"

say() { printf '==> %s\n' "$*" >&2; }

# A Python >= 3.11 venv with the pinned test packages; rebuilt when the pins change.
ensure_venv() {
    local stamp="$venv/.requirements"
    if [[ -x "$venv/bin/python" ]] && cmp -s "$root/scripts/requirements-test.txt" "$stamp"; then
        return 0
    fi
    if ! command -v python3 >/dev/null || ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        say "installing Python 3.11+ (apt)"
        apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
    fi
    say "preparing test venv in $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/scripts/requirements-test.txt"
    cp "$root/scripts/requirements-test.txt" "$stamp"
}

# OpenLDAP's server and tools, and openssl for the test certificates: the LDAP tests start their
# own slapd on loopback ports (the Debian service, if any, is left alone).
ensure_ldap() {
    if [[ -x /usr/sbin/slapd ]] && command -v ldapmodify >/dev/null && command -v openssl >/dev/null; then
        return 0
    fi
    say "installing slapd, ldap-utils and openssl (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd ldap-utils openssl >/dev/null
}

# Debian's Chromium, for the console's browser tests.
ensure_chromium() {
    if [[ -x /usr/bin/chromium ]]; then
        return 0
    fi
    say "installing chromium (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

# axe-core, the accessibility checker the console's browser tests run on every page, from the
# npm registry at a pinned version; sets axe_js to its script.
axe_version="4.14.1"
ensure_axe() {
    local dir="$HOME/.cache/idsync/axe-core-$axe_version"
    axe_js="$dir/node_modules/axe-core/axe.min.js"
    [[ -f "$axe_js" ]] && return 0
    if ! command -v npm >/dev/null; then
        say "installing npm (apt)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    fi
    say "installing axe-core $axe_version (npm)"
    mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "axe-core@$axe_version" >/dev/null
}

# start_server DATA_DIR [ENV=VALUE...]: runs `idsync serve` on a free loopback port; sets
# server_pid and server_root (http://127.0.0.1:PORT).
start_server() {
    local data="$1"; shift
    local log="$data/serve.log"
    env "$@" "$target_dir/${profile:-debug}/idsync" serve --listen 127.0.0.1:0 --data-dir "$data" 2>"$log" &
    server_pid=$!
    for _ in $(seq 1 200); do
        server_root="$(grep -o 'SCIM sources at http://[0-9.:]*' "$log" 2>/dev/null | head -1 | sed 's/SCIM sources at //' || true)"
        [[ -n "$server_root" ]] && return 0
        kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; return 1; }
        sleep 0.1
    done
    say "idsync did not start; its log:"; cat "$log" >&2; return 1
}

stop_server() {
    if [[ -n "${server_pid:-}" ]]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; fi
    server_pid=""
}
