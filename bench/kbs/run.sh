#!/usr/bin/env bash
# Builds and runs the veil-kbs benchmark; writes bench/results/kbs.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-3}
./scripts/build.sh veil-kbs-bench >/dev/null
mkdir -p bench/results
out=bench/results/kbs.md
{
  echo "# veil-kbs benchmark"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r); server \`veil-kbs serve\` (HTTP or"
  echo "HTTPS with its self-signed certificate, on 127.0.0.1, 80 worker threads), each client a separate"
  echo "process with one keep-alive connection, client and server sharing the 2 cores; ${secs} s per row"
  echo "(the ops/s column includes forking the clients). Handshake = POST /auth + P-256 key generation + sample"
  echo "evidence + POST /attest (token issued). Fetch = GET resource with the token, policy check,"
  echo "audit row (SQLite, synchronous=FULL), JWE (ECDH-ES + A256GCM) and client-side decryption."
  echo "Handshake (tdx) = the same with a TDX quote v4 as evidence: every check a real quote gets"
  echo "(PCK chain, QE report, QE binding, quote signature, report-data binding), but signed by a"
  echo "self-made Intel-like PKI whose root the server pins in place of Intel's (this benchmark's"
  echo "--tdx-test-server mode; veil-kbs itself has no such switch); each client signs its quote"
  echo "(two ECDSA P-256 signatures) on the same 2 cores, where a TD would use its hardware."
  echo "Load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other builds on the machine halve the"
  echo "figures: compare runs only at similar load)."
  echo
  build/src/kbs/veil-kbs-bench "$secs"
} | tee "$out"
