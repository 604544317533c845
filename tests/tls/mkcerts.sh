#!/bin/sh
# Test certificates for the TLS tests, made fresh in DIR (never committed): a CA, a server
# certificate for server.test (and *.example.com, spiffe://test/server), upstream ones for
# up.test and wrong.test, a client certificate (spiffe://test/client), and a second CA with a
# client it signed, which the first does not trust. ECDSA P-256: quick to make and to use.
# Usage: tests/tls/mkcerts.sh DIR
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
[ -f done ] && exit 0

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() { # name
	key "$1.key"
	openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 30 -subj "/CN=$1" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign \
		2>/dev/null
}

leaf() { # name ca subject san
	key "$1.key"
	openssl req -new -key "$1.key" -out "$1.csr" -subj "$3" 2>/dev/null
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$4" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
		-out "$1.pem" -days 30 -extfile "$1.ext" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

ca ca
ca other-ca
leaf server ca "/CN=server.test/O=tcpproxy tests" "DNS:server.test,DNS:*.example.com,URI:spiffe://test/server"
leaf second ca "/CN=second.test" "DNS:second.test"
leaf up ca "/CN=up.test" "DNS:up.test"
leaf wrong ca "/CN=wrong.test" "DNS:wrong.test"
leaf client ca "/CN=client/O=tcpproxy tests" "URI:spiffe://test/client,DNS:client.test"
leaf stranger other-ca "/CN=stranger" "URI:spiffe://other/stranger"
# A key of the right type that belongs to no certificate here.
key unrelated.key
touch done
