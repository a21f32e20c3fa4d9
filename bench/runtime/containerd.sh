# Part of bench/runtime/run.sh (sourced after its setup; shares its variables).
# --- containerd --------------------------------------------------------------------------------
declare -A ctr_med
ctr_image=docker.io/veilbench/busybox:latest
ctr_() { ctr -a "$ctd/containerd.sock" -n "$ctd_ns" "$@"; }
if want containerd; then
  echo
  echo "== containerd: private daemon; 'ctr run --rm' of /bin/true through each runtime as the runc v2 shim's BinaryName, $warmup warmup + $ctr_runs timed each (interleaved)"
  mkdir -p "$ctd"
  cat >"$ctd/config.toml" <<TOML
version = 2
root = "$ctd/root"
state = "$ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ctd/containerd.sock"
[ttrpc]
  address = "$ctd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
TOML
  containerd --config "$ctd/config.toml" </dev/null >"$ctd/containerd.log" 2>&1 &
  ctd_pid=$!
  up=0
  for i in $(seq 300); do
    kill -0 "$ctd_pid" 2>/dev/null || break
    if [ -S "$ctd/containerd.sock" ] && ctr_ version >/dev/null 2>&1; then
      up=1
      break
    fi
    sleep 0.1
  done
  [ "$up" -eq 1 ] || fail containerd "the private containerd did not come up within 30 s" "$ctd/containerd.log"
  "$repo/tests/clients/make-oci-image.sh" "$tmp/busybox.tar" "$ctr_image" >/dev/null 2>"$tmp/err-image" ||
    fail image "tests/clients/make-oci-image.sh failed" "$tmp/err-image"
  ctr_ image import "$tmp/busybox.tar" >/dev/null 2>"$tmp/err-image" ||
    fail containerd "'ctr image import' failed" "$tmp/err-image"
  for n in "${names[@]}"; do : >"$tmp/ctr-$n"; done
  for ((i = 1; i <= warmup + ctr_runs; i++)); do
    for n in "${names[@]}"; do
      err=$tmp/err-$n
      t0=$(now_us)
      ctr_ run --rm --runtime io.containerd.runc.v2 --runc-binary "${bin[$n]}" \
        --runc-root "$ctd/runc-$n" --fifo-dir "$ctd/fifo" "$ctr_image" "ctr-$n-$i" /bin/true \
        </dev/null >/dev/null 2>"$err" || fail "$n" "'ctr run --rm' (iteration $i) exited non-zero" "$err"
      t1=$(now_us)
      [ "$i" -le "$warmup" ] || echo $((t1 - t0)) >>"$tmp/ctr-$n"
    done
    printf '.'
  done
  echo
  for n in "${names[@]}"; do
    ctr_med[$n]=$(median <"$tmp/ctr-$n" | awk '{ print $1 / 1000 }')
    printf '   %-5s ctr run --rm %8.2f ms\n' "$n" "${ctr_med[$n]}"
  done
  stop_containerd
fi
