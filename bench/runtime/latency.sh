# Part of bench/runtime/run.sh (sourced after its setup; shares its variables).
# --- smoke test: run works, and reusing a fixed id works (run deletes its container) -----------
echo "== smoke test (each runtime: 'run' twice with the same id, then 'list' must be empty)"
for n in "${names[@]}"; do
  err=$tmp/err-$n
  for i in 1 2; do
    rt "$n" run --bundle "$bundle" smoke </dev/null >/dev/null 2>"$err" ||
      fail "$n" "'run --bundle $bundle smoke' (attempt $i) exited non-zero" "$err"
  done
  left=$(rt "$n" list -q 2>"$err") || fail "$n" "'list -q' exited non-zero" "$err"
  [ -z "$left" ] || fail "$n" "'run' left containers behind: $left" "$err"
  echo "   $n: ok ($("${bin[$n]}" --version 2>/dev/null | head -n 1 || echo "version unknown"))"
done

# --- run: hyperfine ----------------------------------------------------------------------------
echo
echo "== run: hyperfine, warmup $warmup, $runs runs each"
hf=(hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$tmp/run.json")
for n in "${names[@]}"; do
  hf+=(-n "$n" "$(printf '%q ' "${bin[$n]}" --root "$tmp/root-$n" run --bundle "$bundle" "bench-$n")")
done
if ! "${hf[@]}"; then
  echo "$prog: error: hyperfine failed: a runtime's 'run' exited non-zero (see above)." >&2
  [ "$peers_only" -eq 1 ] || echo "(if it is veil: run '$prog --peers-only' to benchmark only runc and crun)" >&2
  exit 1
fi
declare -A run_med run_mean run_sd
for n in "${names[@]}"; do
  run_med[$n]=$(jq -r --arg n "$n" '.results[] | select(.command == $n) | .median * 1000' "$tmp/run.json")
  run_mean[$n]=$(jq -r --arg n "$n" '.results[] | select(.command == $n) | .mean * 1000' "$tmp/run.json")
  run_sd[$n]=$(jq -r --arg n "$n" '.results[] | select(.command == $n) | .stddev * 1000' "$tmp/run.json")
  left=$(rt "$n" list -q 2>/dev/null || true)
  [ -z "$left" ] || fail "$n" "'run' left containers behind after the hyperfine runs: $left" /dev/null
done

# --- create / start / delete -------------------------------------------------------------------
echo
echo "== create/start/delete: $warmup warmup + $split_runs timed iterations each (runtimes interleaved)"
for n in "${names[@]}"; do : >"$tmp/create-$n" && : >"$tmp/start-$n" && : >"$tmp/delete-$n"; done
for ((i = 1; i <= warmup + split_runs; i++)); do
  for n in "${names[@]}"; do
    id=split-$i
    err=$tmp/err-$n
    t0=$(now_us)
    rt "$n" create --bundle "$bundle" "$id" </dev/null >/dev/null 2>"$err" ||
      fail "$n" "'create --bundle $bundle $id' exited non-zero" "$err"
    t1=$(now_us)
    rt "$n" start "$id" </dev/null >/dev/null 2>"$err" || fail "$n" "'start $id' exited non-zero" "$err"
    t2=$(now_us)
    wait_stopped "$n" "$id" || fail "$n" "container $id did not reach status 'stopped' after start" /dev/null
    t3=$(now_us)
    rt "$n" delete "$id" </dev/null >/dev/null 2>"$err" || fail "$n" "'delete $id' exited non-zero" "$err"
    t4=$(now_us)
    if [ "$i" -gt "$warmup" ]; then
      echo $((t1 - t0)) >>"$tmp/create-$n"
      echo $((t2 - t1)) >>"$tmp/start-$n"
      echo $((t4 - t3)) >>"$tmp/delete-$n"
    fi
  done
  printf '.'
done
echo
declare -A create_med start_med delete_med
for n in "${names[@]}"; do
  create_med[$n]=$(median <"$tmp/create-$n" | awk '{ print $1 / 1000 }')
  start_med[$n]=$(median <"$tmp/start-$n" | awk '{ print $1 / 1000 }')
  delete_med[$n]=$(median <"$tmp/delete-$n" | awk '{ print $1 / 1000 }')
  printf '   %-5s create %8.2f ms   start %8.2f ms   delete %8.2f ms\n' "$n" \
    "${create_med[$n]}" "${start_med[$n]}" "${delete_med[$n]}"
done

# --- peak RSS ----------------------------------------------------------------------------------
echo
echo "== peak RSS of 'run': /usr/bin/time -v, $rss_runs runs each"
declare -A rss_med
for n in "${names[@]}"; do
  : >"$tmp/rss-$n"
  for ((i = 1; i <= rss_runs; i++)); do
    err=$tmp/err-$n
    /usr/bin/time -v -o "$tmp/time-$n" "${bin[$n]}" --root "$tmp/root-$n" run --bundle "$bundle" "rss-$n" \
      </dev/null >/dev/null 2>"$err" || fail "$n" "'run' under /usr/bin/time exited non-zero" "$err"
    kib=$(awk -F': *' '/Maximum resident set size/ { print $2 }' "$tmp/time-$n")
    [[ "$kib" =~ ^[0-9]+$ ]] || fail "$n" "no 'Maximum resident set size' in /usr/bin/time -v output" "$tmp/time-$n"
    echo "$kib" >>"$tmp/rss-$n"
  done
  rss_med[$n]=$(median <"$tmp/rss-$n")
  printf '   %-5s %8.0f KiB\n' "$n" "${rss_med[$n]}"
done

# --- exec latency ------------------------------------------------------------------------------
sleep_bundle=$tmp/bundle-sleep
"$repo/scripts/make-bundle.sh" "$sleep_bundle" --readonly -- sleep 100000 >/dev/null
declare -A exec_med exec_mean exec_sd
if want exec; then
  echo
  echo "== exec: hyperfine of 'X exec ID /bin/true' into a running container, warmup $warmup, $exec_runs runs each"
  hf=(hyperfine -N --warmup "$warmup" --runs "$exec_runs" --export-json "$tmp/exec.json")
  for n in "${names[@]}"; do
    err=$tmp/err-$n
    rt "$n" run -d --bundle "$sleep_bundle" "exec-$n" </dev/null >/dev/null 2>"$err" ||
      fail "$n" "'run -d' of the exec target exited non-zero" "$err"
    hf+=(-n "$n" "$(printf '%q ' "${bin[$n]}" --root "$tmp/root-$n" exec "exec-$n" /bin/true)")
  done
  if ! "${hf[@]}"; then
    echo "$prog: error: hyperfine failed: a runtime's 'exec' exited non-zero (see above)." >&2
    exit 1
  fi
  for n in "${names[@]}"; do
    exec_med[$n]=$(jq -r --arg n "$n" '.results[] | select(.command == $n) | .median * 1000' "$tmp/exec.json")
    exec_mean[$n]=$(jq -r --arg n "$n" '.results[] | select(.command == $n) | .mean * 1000' "$tmp/exec.json")
    exec_sd[$n]=$(jq -r --arg n "$n" '.results[] | select(.command == $n) | .stddev * 1000' "$tmp/exec.json")
    rt "$n" delete --force "exec-$n" >/dev/null 2>&1 || fail "$n" "'delete --force exec-$n' exited non-zero" /dev/null
  done
fi
