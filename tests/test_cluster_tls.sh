#!/usr/bin/env bash
# test_cluster_tls.sh - the pool with tls = on: members present and verify
# certificates (a CA made here with openssl), in network namespaces.
#
#   pool        a and b, certificates from the pool's CA: a put on a is a
#               byte-exact get on b (pushed and fetched pages alike)
#   other CA    c with a certificate from another CA: refused by a, logged
#   expired     c with an expired certificate from the pool's CA: refused
#   wrong name  c presenting b's certificate: refused (a checks the name)
#   plaintext   a HELLO in the clear at a's TLS port: refused, counted
#
# Needs root (namespaces, veth) and openssl(1); exits 77 without them.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
command -v openssl >/dev/null || skip "no openssl(1)"
. tests/cluster-lib.sh cluster-tls

# ---- a PKI: the pool's CA, another CA, and certificates for a, b, c ----
P=$T/pki
mkdir -p "$P/db"
: >"$P/db/index.txt"
echo 01 >"$P/db/serial"
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {   # NAME: a self-signed CA
	newkey "$P/$1.key"
	openssl req -x509 -new -key "$P/$1.key" -out "$P/$1.pem" -days 30 -subj "/CN=$1" 2>/dev/null
}
cert() {   # NAME CA ID [STARTDATE ENDDATE]: a certificate for member ID
	newkey "$P/$1.key"
	openssl req -new -key "$P/$1.key" -out "$P/$1.csr" -subj "/CN=$3" \
		-addext "subjectAltName=DNS:$3" 2>/dev/null
	cat >"$P/ca.cnf" <<-EOF
	[ca]
	default_ca = d
	[d]
	database = $P/db/index.txt
	new_certs_dir = $P/db
	serial = $P/db/serial
	default_md = sha256
	default_days = 30
	policy = p
	copy_extensions = copy
	unique_subject = no
	[p]
	commonName = supplied
	EOF
	openssl ca -batch -notext -config "$P/ca.cnf" -cert "$P/$2.pem" -keyfile "$P/$2.key" \
		-in "$P/$1.csr" -out "$P/$1.pem" ${4:+-startdate "$4" -enddate "$5"} 2>/dev/null ||
		die "openssl ca: cannot sign $1"
}
ca pool
ca other
cert a pool a
cert b pool b
cert c pool c
cert c-other other c
cert c-expired pool c 20200101000000Z 20200102000000Z
declare -A CERT=([a]=a [b]=b [c]=c)
node_conf() {
	printf 'push = page\ntls = on\ncert = %s\nkey = %s\nca = %s\n' "$P/${CERT[$1]}.pem" \
		"$P/${CERT[$1]}.key" "$P/pool.pem"
}

# ---- a and b: a pool over TLS ----
start_node a
start_node b
wait_for "a and b see each other" eval '[ "$(stat_of a peers_up)" = 1 ] && [ "$(stat_of b peers_up)" = 1 ]'
grep -q "mutual TLS" "$T/a.log" && ok "a says it runs mutual TLS" || fail "a did not log TLS"
for k in $(seq 1 20); do
	head -c $((16384 + k * 512)) /dev/urandom >"$T/v$k"
	on a "$MMC" put "key$k" "$T/v$k" || die "put key$k on a"
done
# c is down: every push went to b
wait_for "pushes over TLS landed" eval '[ "$(stat_of a pushes)" -eq "$(stat_of b pushes_received)" ]'
for k in $(seq 1 20); do
	on b "$MMC" get "key$k" >"$T/out" && cmp -s "$T/v$k" "$T/out" || fail "key$k on b over TLS"
done
[ "$(stat_of b remote_hits)" -gt 0 ] && [ "$(stat_of b pushes_received)" -gt 0 ] &&
	ok "20 keys put on a: byte-exact on b over TLS (pushed and fetched)" ||
	fail "no remote hit or push over TLS"

# refused NAME WHY: c, started with certificate NAME, is refused by a (its
# log says why, its counter grows), and a keeps serving b.
refused() {
	local before
	before=$(stat_of a peer_tls_refused)
	CERT[c]=$1
	start_node c
	wait_for "a refuses c ($1)" eval '[ "$(stat_of a peer_tls_refused)" -gt '"$before"' ]'
	if grep -q "$2" "$T/a.log"; then ok "c with $1: refused by a ($2)"; else
		fail "c with $1: a's log does not say '$2'"; fi
	on c "$MMC" get key1 >/dev/null 2>&1 && [ "$(stat_of c remote_hits)" -gt 0 ] &&
		fail "c with $1 read a page from the pool"
	kill -TERM "${PID[c]}"
	wait "${PID[c]}" || true
}
refused c-other "unable to get local issuer certificate"
refused c-expired "certificate has expired"
refused b "not for 'c'\|hostname mismatch"

# ---- plaintext at a TLS port ----
before=$(stat_of a peer_tls_refused)
ip netns exec "${NS[b]}" python3 - "${ADDR[a]}" "$PORT" <<'EOF' || fail "plaintext sender failed"
import socket, struct, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(struct.pack("<IBBHIiQIIQ", 0x5043434d, 1, 1, 1, 0, 0, 0, 0, 0, 0) + b"b")
s.settimeout(5)
try:
    while s.recv(4096):
        pass
except OSError:
    pass
EOF
wait_for "a refuses plaintext" eval '[ "$(stat_of a peer_tls_refused)" -gt '"$before"' ]'
ok "a HELLO in the clear at a TLS port: refused and counted"
for k in 1 2 3; do
	on b "$MMC" get "key$k" >"$T/out" && cmp -s "$T/v$k" "$T/out" || fail "key$k on b after the refusals"
done
ok "a and b still serve each other after every refusal"
stop_nodes a b
PASSED=1
finish_checks
