# Part of bench/runtime/run.sh (sourced after its setup; shares its variables).
# --- density -----------------------------------------------------------------------------------
declare -A dens_start dens_delete dens_mem dens_total dens_rss
# Memory accounting per container: the v1 memory controller when mounted, else cgroup v2.
if [ -d /sys/fs/cgroup/memory ] && [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
  mem_root=/sys/fs/cgroup/memory
  mem_file=memory.usage_in_bytes
  orig_memcg=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
else
  mem_root=/sys/fs/cgroup
  mem_file=memory.current
  orig_memcg=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
fi
if want density; then
  echo
  echo "== density: $density sleeping containers per runtime ('run -d' one after another, then 'delete --force')"
  for n in "${names[@]}"; do
    err=$tmp/err-$n
    # One config per container (its own cgroupsPath), all on the shared read-only rootfs.
    for ((i = 1; i <= density; i++)); do
      d=$tmp/density-$n/c$i
      mkdir -p "$d"
      jq --arg root "$sleep_bundle/rootfs" --arg cg "/$density_cg/$n/c$i" \
        '.root.path = $root | .root.readonly = true | .linux.cgroupsPath = $cg' \
        "$sleep_bundle/config.json" >"$d/config.json"
    done
    mkdir -p "$mem_root/$density_cg/$n/runtime"
    if [ "$mem_file" = memory.current ]; then
      # cgroup v2: the memory controller must be on in the parents for memory.current to exist.
      echo +memory >"$mem_root/cgroup.subtree_control" 2>/dev/null || true
      echo +memory >"$mem_root/$density_cg/cgroup.subtree_control" 2>/dev/null || true
      echo +memory >"$mem_root/$density_cg/$n/cgroup.subtree_control" 2>/dev/null || true
    fi
    # The runtime runs in a sibling of the containers' cgroups, so their parent's usage is what
    # the containers cost in all: also the kernel memory a runtime charges to itself (crun, for
    # one, creates the namespaces from its own process, runc and veil from inside the container's
    # cgroup).
    echo $$ >"$mem_root/$density_cg/$n/runtime/cgroup.procs"
    t0=$(now_us)
    for ((i = 1; i <= density; i++)); do
      rt "$n" run -d --bundle "$tmp/density-$n/c$i" "d$i" </dev/null >/dev/null 2>"$err" ||
        fail "$n" "'run -d' of density container d$i exited non-zero" "$err"
    done
    t1=$(now_us)
    echo $$ >"$mem_root$orig_memcg/cgroup.procs"
    total=$(cat "$mem_root/$density_cg/$n/$mem_file")
    mem=0
    rss=0
    for ((i = 1; i <= density; i++)); do
      cg=$mem_root/$density_cg/$n/c$i
      [ -r "$cg/$mem_file" ] || fail "$n" "no $cg/$mem_file for container d$i" /dev/null
      mem=$((mem + $(cat "$cg/$mem_file")))
      for p in $(cat "$cg/cgroup.procs"); do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
        rss=$((rss + ${kb:-0}))
      done
    done
    t2=$(now_us)
    for ((i = 1; i <= density; i++)); do
      rt "$n" delete --force "d$i" </dev/null >/dev/null 2>"$err" ||
        fail "$n" "'delete --force d$i' exited non-zero" "$err"
    done
    t3=$(now_us)
    left=$(rt "$n" list -q 2>/dev/null || true)
    [ -z "$left" ] || fail "$n" "containers left after the density run: $left" /dev/null
    rm_cgroups "$density_cg/$n"
    dens_start[$n]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e6 }')
    dens_delete[$n]=$(awk -v a="$t2" -v b="$t3" 'BEGIN { print (b - a) / 1e6 }')
    dens_mem[$n]=$(awk -v m="$mem" -v c="$density" 'BEGIN { print m / c / 1024 }')
    dens_total[$n]=$(awk -v m="$total" -v c="$density" 'BEGIN { print m / c / 1024 }')
    dens_rss[$n]=$(awk -v r="$rss" -v c="$density" 'BEGIN { print r / c }')
    printf '   %-5s start %6.2f s   delete %6.2f s   per container: own cgroup %5.0f KiB, incl. runtime %5.0f KiB, RSS %5.0f KiB\n' \
      "$n" "${dens_start[$n]}" "${dens_delete[$n]}" "${dens_mem[$n]}" "${dens_total[$n]}" "${dens_rss[$n]}"
  done
  rm_cgroups "$density_cg"
fi
