#!/bin/sh
# /init of the cgroup v2 guest (tests/cgroup_v2_vm): a pure cgroup2 hierarchy, the static veil
# from the build, busybox containers; one "RESULT <name> ok|FAIL <detail>" line per check on the
# serial console, then "CGROUP2-DONE" and power-off.
export PATH=/bin
/bin/busybox --install -s /bin 2>/dev/null
if [ "$1" != stage2 ]; then
  # pivot_root cannot leave the initramfs root: move everything onto a tmpfs first.
  mount -t proc proc /proc
  mkdir -p /newroot
  mount -t tmpfs -o size=200m root /newroot
  cp -a /bin /etc /init /newroot/
  mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/run
  umount /proc
  exec switch_root /newroot /init stage2
fi
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+cpu +io +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
V="/etc/guard-vm/veil --root /run/veil"
pass=0 failn=0
result() { # NAME OK(0/1) DETAIL
  if [ "$2" = 0 ]; then echo "RESULT $1 ok"; pass=$((pass+1)); else echo "RESULT $1 FAIL $3"; failn=$((failn+1)); fi
}
# A busybox rootfs and a bundle maker: bundle DIR ARGS_JSON RESOURCES_JSON
mkdir -p /tmp/rootfs/bin /tmp/rootfs/proc /tmp/rootfs/dev /tmp/rootfs/sys /tmp/rootfs/tmp
cp /bin/busybox /tmp/rootfs/bin/
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] || ln -sf busybox /tmp/rootfs/bin/$a
done
bundle() {
  mkdir -p "$1"
  cat > "$1/config.json" <<EOF
{"ociVersion":"1.0.2","root":{"path":"/tmp/rootfs","readonly":true},
 "process":{"args":$2,"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0},
  "capabilities":{"bounding":["CAP_KILL","CAP_MKNOD"],"effective":["CAP_KILL","CAP_MKNOD"],"permitted":["CAP_KILL","CAP_MKNOD"]}},
 "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
  {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]},
  {"destination":"/tmp","type":"tmpfs","source":"tmpfs"},
  {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["ro"]}],
 "linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"ipc"},{"type":"uts"},{"type":"cgroup"}],
  "devices":[{"path":"/dev/kmsg","type":"c","major":1,"minor":11}],
  "resources":$3}}
EOF
}
cg=/sys/fs/cgroup/veil

# memory: a limit that really OOM-kills, memory.max, update --memory, events --stats
bundle /tmp/oom '["/bin/dd","if=/dev/zero","of=/dev/null","bs=64M","count=1"]' '{"memory":{"limit":33554432}}'
err=$($V run --bundle /tmp/oom oom 2>&1 >/dev/null); rc=$?
test $rc = 137; result memory-oom-kills $? "exit $rc: $err"
bundle /tmp/mem '["/bin/sleep","60"]' '{"memory":{"limit":33554432},"pids":{"limit":20},"cpu":{"quota":50000,"period":100000,"shares":512}}'
# (Detached containers keep the caller's stdio: never run them inside $(...), which would wait.)
$V run -d --bundle /tmp/mem mem >/tmp/mem.out 2>&1; rc=$?
test $rc = 0; result run-detached $? "$(cat /tmp/mem.out)"
test "$(cat $cg/mem/memory.max)" = 33554432; result memory-max $? "$(cat $cg/mem/memory.max)"
$V update --memory 50331648 mem
test "$(cat $cg/mem/memory.max)" = 50331648; result update-memory $? "$(cat $cg/mem/memory.max)"
$V update --memory -1 mem
test "$(cat $cg/mem/memory.max)" = max; result update-memory-unlimited $? "$(cat $cg/mem/memory.max)"
test "$(cat $cg/mem/cpu.max)" = "50000 100000"; result cpu-max $? "$(cat $cg/mem/cpu.max)"
w=$(cat $cg/mem/cpu.weight); test "$w" -gt 1 -a "$w" -lt 100; result cpu-weight-from-shares $? "$w"
test "$(cat $cg/mem/pids.max)" = 20; result pids-max $? "$(cat $cg/mem/pids.max)"
stats=$($V events --stats mem)
echo "$stats" | grep -q '"pids":{"current":1,"limit":20}'; result events-stats-pids $? "$stats"
echo "$stats" | grep -q '"memory":{'; result events-stats-memory $? ""
# pause/resume: cgroup.freeze and the state
$V pause mem
test "$(cat $cg/mem/cgroup.freeze)" = 1 && $V state mem | grep -q '"paused"'; result pause $? "$($V state mem | grep status)"
$V resume mem
test "$(cat $cg/mem/cgroup.freeze)" = 0 && $V state mem | grep -q '"running"'; result resume $? ""
$V delete --force mem
test ! -e $cg/mem; result delete-removes-cgroup $? ""
# pids: forks beyond pids.max fail
bundle /tmp/pids '["/bin/sh","-c","n=0; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & n=$((n+1)); done; echo started"]' '{"pids":{"limit":4}}'
out=$($V run --bundle /tmp/pids pids 2>&1)
echo "$out" | grep -qi "fork\|resource temporarily"; result pids-limit-stops-forks $? "$out"
# devices (a BPF program on cgroup v2): a node from linux.devices under deny-all is refused,
# /dev/null stays usable
bundle /tmp/dev '["/bin/sh","-c","(exec 3>/dev/kmsg) && echo kmsg-open; (exec 3<>/dev/null) && echo null-open"]' '{"devices":[{"allow":false,"access":"rwm"}]}'
out=$($V run --bundle /tmp/dev dev 2>&1)
echo "$out" | grep -q null-open && ! echo "$out" | grep -q kmsg-open; result devices-bpf-deny $? "$out"
bundle /tmp/dev2 '["/bin/sh","-c","(exec 3>/dev/kmsg) && echo kmsg-open"]' '{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":11,"access":"w"}]}'
out=$($V run --bundle /tmp/dev2 dev2 2>&1)
echo "$out" | grep -q kmsg-open; result devices-bpf-allow $? "$out"
# OOM event in the events stream
bundle /tmp/oomev '["/bin/sh","-c","sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 30"]' '{"memory":{"limit":33554432}}'
$V run -d --bundle /tmp/oomev oomev >/tmp/oomev.out 2>&1
ev=$(timeout 10 $V events --interval 1s oomev 2>&1 | grep -m1 '"type":"oom"')
test -n "$ev"; result events-oom $? "$ev"
$V delete --force oomev
echo "CGROUP2-SUMMARY $pass passed, $failn failed"
echo CGROUP2-DONE
echo o > /proc/sysrq-trigger 2>/dev/null
poweroff -f
