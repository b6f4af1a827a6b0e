#!/bin/sh
# Regenerates the X.509 v1 fixtures of core/src/conn/chain.rs's tests
# (OpenSSL: `x509 -req` without extensions makes a v1 certificate, `ca
# -gencrl` without crl_extensions a v1 CRL). Validity: 10000 days from
# the day it is run; the tests pass their own time.
set -e
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ca() { # name subject
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/$1.key" -out "$1.pem" -days 10000 \
    -subj "$2" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
v1leaf() { # name subject issuer serial
  openssl req -new -newkey rsa:2048 -nodes -keyout "$tmp/$1.key" -out "$tmp/$1.csr" -subj "$2" 2>/dev/null
  openssl x509 -req -in "$tmp/$1.csr" -CA "$3.pem" -CAkey "$tmp/$3.key" -set_serial "$4" -days 10000 -sha256 -out "$1.pem" 2>/dev/null
}
ca ca "/C=FR/O=Sluice Test/CN=Root CA"
ca ca2 "/C=FR/O=Sluice Test/CN=Other CA"
v1leaf leaf "/C=FR/O=Sluice Test/CN=client1" ca 2
v1leaf revoked "/C=FR/O=Sluice Test/CN=client3" ca 3
v1leaf other "/C=FR/O=Sluice Test/CN=other" ca2 2
# An intermediate CA (v3) and a v1 leaf under it.
openssl req -new -newkey rsa:2048 -nodes -keyout "$tmp/inter.key" -out "$tmp/inter.csr" -subj "/C=FR/O=Sluice Test/CN=Intermediate" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$tmp/inter.ext"
openssl x509 -req -in "$tmp/inter.csr" -CA ca.pem -CAkey "$tmp/ca.key" -set_serial 10 -days 10000 -sha256 -extfile "$tmp/inter.ext" -out inter.pem 2>/dev/null
v1leaf leaf_inter "/C=FR/O=Sluice Test/CN=www.example.test" inter 5
# A v1 "intermediate" (no basicConstraints, not self-signed: not a CA) and a leaf under it.
v1leaf v1inter "/C=FR/O=Sluice Test/CN=V1 Intermediate" ca 11
v1leaf leaf_v1inter "/C=FR/O=Sluice Test/CN=under-v1" v1inter 6
# The CA's v1 CRL revoking serial 3.
mkdir -p "$tmp/db"; : > "$tmp/db/index.txt"
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/db/index.txt\ndefault_md=sha256\ndefault_crl_days=9000\n' "$tmp" > "$tmp/ca.cnf"
openssl ca -config "$tmp/ca.cnf" -keyfile "$tmp/ca.key" -cert ca.pem -revoke revoked.pem 2>/dev/null
openssl ca -config "$tmp/ca.cnf" -keyfile "$tmp/ca.key" -cert ca.pem -gencrl -out crl.pem 2>/dev/null
