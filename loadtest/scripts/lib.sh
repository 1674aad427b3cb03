# lib.sh — sourced by the load scripts; what they would otherwise each
# spell out again.

# The server settings every load run shares: rate limits and the
# per-address cap lifted (the harness opens many sockets from a few
# loopback addresses, as fast as the server goes: otherwise the run
# measures the limiter, not the server), warnings only in the log. A value
# already in the environment is kept.
bench_defaults() {
    export DUET_CHAT_RATE=${DUET_CHAT_RATE:-1000000}
    export DUET_CHAT_BURST=${DUET_CHAT_BURST:-1000000}
    export DUET_QUEUE_RATE=${DUET_QUEUE_RATE:-1000}
    export DUET_QUEUE_BURST=${DUET_QUEUE_BURST:-1000}
    export DUET_REGISTER_PER_MINUTE=${DUET_REGISTER_PER_MINUTE:-100000000}
    export DUET_MAX_CONNECTIONS_PER_IP=${DUET_MAX_CONNECTIONS_PER_IP:-0}
    export RUST_LOG=${RUST_LOG:-warn}
}

# Splits a build spec 'label=BIN[:ENV=V,ENV=V]' into $label, $bin and
# $envs (the comma list, empty when none).
parse_build_spec() {
    label=${1%%=*}
    local rest=${1#*=}
    bin=${rest%%:*}
    envs=""
    if [ "$rest" != "$bin" ]; then envs=${rest#*:}; fi
}

# Exports each ENV=V of a spec's comma list (call it in a subshell).
export_spec_envs() {
    local kv e
    IFS=',' read -ra kv <<<"$1"
    for e in "${kv[@]}"; do
        if [ -n "$e" ]; then export "${e?}"; fi
    done
}
