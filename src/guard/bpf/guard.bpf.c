// SPDX-License-Identifier: GPL-2.0
/* veil guard: the kernel side of runtime protection. CO-RE, built at compile time into a libbpf
 * skeleton, loaded once per host by `veil-guard load` and pinned in bpffs. Per-container policy
 * lives in the `policies` map keyed by cgroup v2 id, so nothing is loaded per container and
 * enforcement continues while the daemon is down (events wait in the ring buffer).
 *
 * Two sets of programs; the loader picks one by probing:
 *   - BPF LSM (block before the action): bprm_check_security, file_mprotect, mmap_file. Needs a
 *     kernel booted with bpf in its LSM list. The exec tracepoint is attached too, for what needs
 *     the new program's argv (netcat/socat patterns), which the LSM hook cannot read yet.
 *   - fallback: tp_btf/sched_process_exec + bpf_send_signal(SIGKILL) (the new program is killed
 *     before its first instruction) decides every exec. W^X then comes from seccomp in the
 *     container (src/guard/seccomp).
 * Egress in both: cgroup/connect4|6 and sendmsg4|6 on the cgroup v2 root (refuse with EPERM).
 * They see every way to reach an address — connect(2), the implicit connect of TCP Fast Open's
 * sendto(MSG_FASTOPEN) and unconnected UDP sendmsg — where lsm/socket_connect sees connect(2)
 * only (the VM test, tests/guard_vm, showed Fast Open and UDP sendto passing it). */
#define __VEIL_BPF__
// clang-format off: vmlinux.h must come first, it defines the types the others use.
#include "vmlinux.h"
// clang-format on

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "guard_abi.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define SIGKILL 9
#define EPERM 1
#define EACCES 13
#define PROT_WRITE 0x2
#define PROT_EXEC 0x4
#define VM_WRITE 0x2
#define VM_EXEC 0x4
#define MAX_CGROUP_DEPTH 16

/* x & m in a way the compiler cannot drop, so the verifier sees the bound. */
#define BOUNDED(x, m)                      \
  ({                                       \
    __u64 __v = (x);                       \
    asm volatile("%0 &= " #m : "+r"(__v)); \
    __v;                                   \
  })

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u64);
  __type(value, struct vg_policy);
} policies SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct vg_name_key);
  __type(value, __u32);
} names SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct vg_inode_key);
  __type(value, __u32);
} approved SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, VG_STAT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

/* [0] ABI version, [1] mechanism bits (written by the loader). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u32);
} meta SEC(".maps");

/* Scratch space for one event (too big for the 512-byte stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct vg_event);
} scratch SEC(".maps");

/* Scratch for the names-map key: map memory, unlike the stack, is not tracked byte by byte by
 * the verifier, so the name normalisation below does not multiply its states. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct vg_name_key);
} scratch_key SEC(".maps");

/* Older kernels name the inode's ctime differently (CO-RE picks the one that exists). */
struct inode___v66 {
  struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));
struct inode___v61 {
  struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

static __always_inline void count(__u32 slot) {
  __u64* v = bpf_map_lookup_elem(&stats, &slot);
  if (v) __sync_fetch_and_add(v, 1);
}

/* The policy of the nearest registered cgroup of the current task (itself, then ancestors). */
static __always_inline struct vg_policy* find_policy(__u64* cgid) {
  for (int l = MAX_CGROUP_DEPTH; l >= 1; l--) {
    __u64 id = bpf_get_current_ancestor_cgroup_id(l);
    if (!id) continue;
    struct vg_policy* p = bpf_map_lookup_elem(&policies, &id);
    if (p) {
      *cgid = id;
      return p;
    }
  }
  return 0;
}

/* The inode's ctime in seconds and nanoseconds (names differ across kernel versions). */
static __always_inline void inode_ctime(struct inode* ino, __s64* sec, __s64* nsec) {
  if (bpf_core_field_exists(ino->i_ctime_sec)) {
    *sec = BPF_CORE_READ(ino, i_ctime_sec);
    /* Multigrain timestamps (6.13+) keep an I_CTIME_QUERIED flag in bit 31. */
    *nsec = BPF_CORE_READ(ino, i_ctime_nsec) & 0x3fffffff;
    return;
  }
  struct inode___v66* i66 = (void*)ino;
  if (bpf_core_field_exists(i66->__i_ctime)) {
    *sec = BPF_CORE_READ(i66, __i_ctime.tv_sec);
    *nsec = BPF_CORE_READ(i66, __i_ctime.tv_nsec);
    return;
  }
  struct inode___v61* i61 = (void*)ino;
  *sec = BPF_CORE_READ(i61, i_ctime.tv_sec);
  *nsec = BPF_CORE_READ(i61, i_ctime.tv_nsec);
}

static __always_inline int file_is_inet_socket(struct file* f) {
  if (!f) return 0;
  umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
  if ((mode & S_IFMT) != S_IFSOCK) return 0;
  struct socket* sock = BPF_CORE_READ(f, private_data);
  if (!sock) return 0;
  __u16 family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
  return family == AF_INET || family == AF_INET6;
}

/* True when fd 0, 1 or 2 of task t is a TCP/UDP socket. */
static __always_inline int stdio_is_socket(struct task_struct* t) {
  struct files_struct* files = BPF_CORE_READ(t, files);
  if (!files) return 0;
  struct fdtable* fdt = BPF_CORE_READ(files, fdt);
  unsigned int max = BPF_CORE_READ(fdt, max_fds);
  struct file** fd = BPF_CORE_READ(fdt, fd);
  for (int i = 0; i < 3; i++) {
    if (i >= max) break;
    struct file* f = 0;
    bpf_probe_read_kernel(&f, sizeof(f), &fd[i]);
    if (file_is_inet_socket(f)) return 1;
  }
  return 0;
}

static __always_inline int lower(char c) {
  return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* b holds the first 16 bytes of one argument of n bytes. */
static __always_inline int arg_matches(const char* b, __u32 n, __u32 kind) {
  if (kind == VG_NAME_NETCAT) {
    if (b[0] != '-') return 0;
    if (n == 2 && (b[1] == 'e' || b[1] == 'c')) return 1; /* -e PROG, -c CMD */
    if (n > 2 && n < 9 && b[1] != '-' && b[BOUNDED(n - 1, 15)] == 'e') return 1; /* -lvpe */
    if (n >= 6 && b[1] == '-' && b[2] == 'e' && b[3] == 'x' && b[4] == 'e' && b[5] == 'c')
      return 1; /* --exec */
    if (n >= 9 && b[1] == '-' && b[3] == 'h' && b[4] == '-' && b[5] == 'e' && b[6] == 'x' &&
        b[7] == 'e' && b[8] == 'c' && (b[2] == 's'))
      return 1; /* --sh-exec */
    if (n >= 10 && b[1] == '-' && b[2] == 'l' && b[3] == 'u' && b[4] == 'a' && b[5] == '-' &&
        b[6] == 'e' && b[7] == 'x' && b[8] == 'e' && b[9] == 'c')
      return 1; /* --lua-exec */
    return 0;
  }
  if (kind == VG_NAME_SOCAT) {
    if (n >= 5 && lower(b[0]) == 'e' && lower(b[1]) == 'x' && lower(b[2]) == 'e' &&
        lower(b[3]) == 'c' && b[4] == ':')
      return 1; /* EXEC: */
    if (n >= 7 && lower(b[0]) == 's' && lower(b[1]) == 'y' && lower(b[2]) == 's' &&
        lower(b[3]) == 't' && lower(b[4]) == 'e' && lower(b[5]) == 'm' && b[6] == ':')
      return 1; /* SYSTEM: */
  }
  return 0;
}

/* Argument scanning, one byte per bpf_loop() step: at each NUL the argument that ends there is
 * checked with straight-line compares (a state machine carried across steps explodes the
 * verifier's state space). */
struct scan_ctx {
  const char* a;
  __u32 len, kind, start;
  int found;
};

static long scan_step(__u32 i, void* data) {
  struct scan_ctx* s = data;
  if (i >= s->len || i >= VG_ARGV_LEN) return 1;
  if (s->a[BOUNDED(i, 511)] != 0) return 0;
  char b[16] = {};
  __u32 n = i - s->start;
  bpf_probe_read_kernel(b, sizeof(b), s->a + BOUNDED(s->start, 511));
  s->start = i + 1;
  if (arg_matches(b, n, s->kind)) {
    s->found = 1;
    return 1;
  }
  return 0;
}

/* 1 when an argument is a netcat "run a program" option (-e, -c, --exec, --sh-exec,
 * --lua-exec) or a socat EXEC:/SYSTEM: address. */
static __always_inline int scan_args(const char* a, __u32 len, __u32 kind) {
  struct scan_ctx s = {.a = a, .len = len, .kind = kind};
  bpf_loop(VG_ARGV_LEN, scan_step, &s, 0);
  return s.found;
}

/* Path components from the leaf up to the task's root, each followed by '/'. */
struct walk_ctx {
  struct dentry *d, *rootd;
  struct vfsmount *vm, *rootm;
  struct mount* m;
  __u32 mnt_off, off;
  char* buf;
};

static long walk_step(__u32 i, void* data) {
  struct walk_ctx* w = data;
  struct dentry* d = w->d;
  struct vfsmount* vm = w->vm;
  struct mount* m = w->m;
  if (d == w->rootd && vm == w->rootm) return 1;
  struct dentry* parent = BPF_CORE_READ(d, d_parent);
  if (d == BPF_CORE_READ(vm, mnt_root) || d == parent) {
    struct mount* mp = BPF_CORE_READ(m, mnt_parent);
    if (mp == m) return 1;
    w->d = BPF_CORE_READ(m, mnt_mountpoint);
    w->m = mp;
    w->vm = (void*)mp + w->mnt_off;
    return 0;
  }
  __u32 off = w->off;
  if (off >= VG_CWD_LEN) return 1;
  const unsigned char* name = BPF_CORE_READ(d, d_name.name);
  long n = bpf_probe_read_kernel_str(w->buf + BOUNDED(off, 255), 64, name);
  if (n <= 1) return 1;
  off += n;
  w->buf[BOUNDED(off - 1, 255)] = '/';
  w->off = off;
  w->d = parent;
  return 0;
}

static __always_inline __u32 path_components(struct path* path, struct path* root, char* buf) {
  struct walk_ctx w = {};
  w.d = BPF_CORE_READ(path, dentry);
  w.vm = BPF_CORE_READ(path, mnt);
  w.rootd = BPF_CORE_READ(root, dentry);
  w.rootm = BPF_CORE_READ(root, mnt);
  w.mnt_off = bpf_core_field_offset(struct mount, mnt);
  w.m = (void*)w.vm - w.mnt_off;
  w.buf = buf;
  bpf_loop(32, walk_step, &w, 0);
  return w.off;
}

static __always_inline struct vg_event* scratch_event(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline void read_argv(struct vg_event* e) {
  struct task_struct* t = bpf_get_current_task_btf();
  unsigned long start = BPF_CORE_READ(t, mm, arg_start), end = BPF_CORE_READ(t, mm, arg_end);
  __u64 len = end > start ? end - start : 0;
  if (len > VG_ARGV_LEN) len = VG_ARGV_LEN;
  len = BOUNDED(len, 1023);
  if (len > VG_ARGV_LEN || bpf_probe_read_user(e->argv, len, (void*)start) != 0) len = 0;
  e->argv_len = len;
}

struct base_ctx {
  const char* s;
  __u32 base;
};

static long base_step(__u32 i, void* data) {
  struct base_ctx* b = data;
  char c = b->s[BOUNDED(i, 255)];
  if (c == 0) return 1;
  if (c == '/') b->base = i + 1;
  return 0;
}

/* The name an exec runs under: basename of the path, trailing digits and dots removed. */
static __always_inline void program_name(const char* exe, char* out) {
  struct base_ctx b = {.s = exe};
  bpf_loop(VG_EXE_LEN, base_step, &b, 0);
  /* The key is compared byte for byte: clear what a previous name left behind. */
  __builtin_memset(out, 0, VG_COMM_LEN);
  bpf_probe_read_kernel_str(out, VG_COMM_LEN, exe + BOUNDED(b.base, 255));
  for (int i = VG_COMM_LEN - 1; i >= 1; i--) {
    char c = out[i];
    if (c == 0) continue;
    if ((c >= '0' && c <= '9') || c == '.')
      out[i] = 0;
    else
      break;
  }
}

/* Which exec checks a hook makes (on_exec). With BPF LSM, bprm_check_security makes all but the
 * argv ones before the exec, and the tracepoint after it only what needed the new argv. */
#define CHK_INODE 1u       /* fileless, drift, exec allow list: the file being executed */
#define CHK_STDIO 2u       /* an interpreter (by file name or argv[0]) with a socket as stdio */
#define CHK_STDIO_ARGV0 4u /* the same, for an interpreter named by argv[0] only */
#define CHK_ARGV 8u        /* netcat/socat arguments that run a program */
#define CHK_ALL (CHK_INODE | CHK_STDIO | CHK_ARGV)
#define CHK_LSM (CHK_INODE | CHK_STDIO)
#define CHK_AFTER_LSM (CHK_STDIO_ARGV0 | CHK_ARGV)

/* Exec verdicts are packed into one scalar, rule | detail << 8 (0 = allow), and computed by
 * global functions: the verifier checks each of them once, on its own, instead of once per path
 * through the caller (inlined, the combination of checks exceeds its budget). Kernel pointers
 * travel as plain __u64 and are only read with probe reads. */
#define VERDICT(rule, detail) ((rule) | ((detail) << 8))

static __always_inline __u32 rule_flag(__u32 rule) {
  switch (rule) {
    case VG_RULE_REVERSE_SHELL:
      return VG_F_REVERSE_SHELL;
    case VG_RULE_FILELESS:
      return VG_F_FILELESS;
    case VG_RULE_DRIFT:
      return VG_F_DRIFT;
    case VG_RULE_EXEC:
      return VG_F_EXEC_ALLOWLIST;
  }
  return 0;
}

__noinline int vg_fileless_check(struct vg_policy* pol, __u64 file) {
  if (!pol || !(pol->enabled & VG_F_FILELESS)) return 0;
  struct file* f = (void*)file;
  struct inode* ino = BPF_CORE_READ(f, f_inode);
  if (BPF_CORE_READ(ino, i_nlink) == 0) {
    char pre[8] = {};
    bpf_probe_read_kernel_str(pre, sizeof(pre), BPF_CORE_READ(f, f_path.dentry, d_name.name));
    int memfd = pre[0] == 'm' && pre[1] == 'e' && pre[2] == 'm' && pre[3] == 'f' && pre[4] == 'd' &&
                pre[5] == ':';
    return VERDICT(VG_RULE_FILELESS, memfd ? VG_D_MEMFD : VG_D_DELETED);
  }
  __u32 dev = BPF_CORE_READ(ino, i_sb, s_dev);
  for (int i = 0; i < VG_MAX_SHM; i++)
    if (i < pol->n_shm && pol->shm_dev[i] == dev) return VERDICT(VG_RULE_FILELESS, VG_D_SHM);
  return 0;
}

__noinline int vg_drift_check(struct vg_policy* pol, __u64 file) {
  if (!pol || !(pol->enabled & VG_F_DRIFT)) return 0;
  struct file* f = (void*)file;
  __s64 sec = 0, nsec = 0;
  inode_ctime(BPF_CORE_READ(f, f_inode), &sec, &nsec);
  if (sec * 1000000000LL + nsec >= (__s64)pol->created_ns)
    return VERDICT(VG_RULE_DRIFT, VG_D_CTIME);
  return 0;
}

/* The kind of a program name for this container (0: none). */
static __always_inline __u32 name_kind(__u64 cgid, const char* path) {
  __u32 zero = 0;
  struct vg_name_key* nk = bpf_map_lookup_elem(&scratch_key, &zero);
  if (!nk) return 0;
  nk->cgroup_id = cgid;
  program_name(path, nk->name);
  __u32* kind = bpf_map_lookup_elem(&names, nk);
  return kind ? *kind : 0;
}

/* Names come from the executable's path and from argv[0]: multi-call binaries (busybox) pick
 * their applet by argv[0], and a renamed copy still has its path. */
__noinline int vg_reverse_shell_check(struct vg_policy* pol, __u64 cgid, __u64 task,
                                      struct vg_event* e, __u32 checks) {
  if (!pol || !e || !(pol->enabled & VG_F_REVERSE_SHELL)) return 0;
  int argv_ready = (checks & (CHK_STDIO_ARGV0 | CHK_ARGV)) != 0;
  __u32 k1 = name_kind(cgid, e->exe);
  __u32 k2 = argv_ready && e->argv_len > 0 ? name_kind(cgid, e->argv) : 0;
  struct task_struct* t = (void*)task;
  int interp = (checks & CHK_STDIO) && (k1 == VG_NAME_INTERP || k2 == VG_NAME_INTERP);
  if ((checks & CHK_STDIO_ARGV0) && k1 != VG_NAME_INTERP && k2 == VG_NAME_INTERP) interp = 1;
  if (interp) {
    if (stdio_is_socket(t)) return VERDICT(VG_RULE_REVERSE_SHELL, VG_D_STDIO_SOCKET);
    if (stdio_is_socket(BPF_CORE_READ(t, real_parent)))
      return VERDICT(VG_RULE_REVERSE_SHELL, VG_D_PARENT_SOCKET);
  }
  if (!(checks & CHK_ARGV)) return 0;
  __u32 k = (k1 == VG_NAME_NETCAT || k1 == VG_NAME_SOCAT) ? k1 : k2;
  if ((k == VG_NAME_NETCAT || k == VG_NAME_SOCAT) && scan_args(e->argv, e->argv_len, k))
    return VERDICT(VG_RULE_REVERSE_SHELL, k == VG_NAME_SOCAT ? VG_D_SOCAT_EXEC : VG_D_NETCAT_EXEC);
  return 0;
}

__noinline int vg_allowlist_check(struct vg_policy* pol, __u64 cgid, __u64 file) {
  if (!pol || !(pol->enabled & VG_F_EXEC_ALLOWLIST)) return 0;
  struct file* f = (void*)file;
  struct inode* ino = BPF_CORE_READ(f, f_inode);
  __s64 sec = 0, nsec = 0;
  inode_ctime(ino, &sec, &nsec);
  struct vg_inode_key ik = {
      .cgroup_id = cgid,
      .ino = BPF_CORE_READ(ino, i_ino),
      .dev = 0, /* overlayfs: stat() and the kernel inode disagree on the device */
      .ctime_sec = sec,
  };
  if (!bpf_map_lookup_elem(&approved, &ik)) return VERDICT(VG_RULE_EXEC, VG_D_NOT_APPROVED);
  return 0;
}

/* The exec decisions `checks` asks for, shared by the tracepoint and the LSM hook. `e` has exe
 * (and argv for the argv checks) filled in. */
static __always_inline int check_exec(struct vg_policy* pol, __u64 cgid, __u64 task, __u64 file,
                                      struct vg_event* e, __u32 checks) {
  int v = 0;
  if (checks & CHK_INODE) {
    v = vg_fileless_check(pol, file);
    if (!v) v = vg_drift_check(pol, file);
  }
  if (!v) v = vg_reverse_shell_check(pol, cgid, task, e, checks);
  if (!v && (checks & CHK_INODE)) v = vg_allowlist_check(pol, cgid, file);
  return v;
}

static __always_inline void fill_task(struct vg_event* e, __u64 cgid) {
  struct task_struct* t = bpf_get_current_task_btf();
  __u64 pt = bpf_get_current_pid_tgid(), ug = bpf_get_current_uid_gid();
  e->ts_boot_ns = bpf_ktime_get_boot_ns();
  e->cgroup_id = cgid;
  e->pid = pt >> 32;
  e->ppid = BPF_CORE_READ(t, real_parent, tgid);
  e->uid = (__u32)ug;
  e->gid = ug >> 32;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  struct fs_struct* fs = BPF_CORE_READ(t, fs);
  e->cwd_len = fs ? path_components(&fs->pwd, &fs->root, e->cwd) : 0;
}

static __always_inline void emit(struct vg_event* e, struct vg_policy* pol) {
  __builtin_memcpy(e->container_id, pol->container_id, VG_ID_LEN);
  count(VG_STAT_EVENTS);
  if (bpf_ringbuf_output(&events, e, sizeof(*e), BPF_RB_FORCE_WAKEUP) != 0) count(VG_STAT_DROPPED);
}

/* Shared by both exec hooks: returns 1 when the exec must be stopped. */
static __always_inline int on_exec(struct linux_binprm* bprm, __u16 mech, __u32 checks) {
  __u64 cgid = 0;
  struct vg_policy* pol = find_policy(&cgid);
  if (!pol) return 0;
  struct vg_event* e = scratch_event();
  if (!e) return 0;
  e->argv_len = 0;
  e->family = 0;
  e->port = 0;
  bpf_probe_read_kernel_str(e->exe, sizeof(e->exe), BPF_CORE_READ(bprm, filename));
  if (checks & (CHK_STDIO_ARGV0 | CHK_ARGV)) read_argv(e);
  __u64 task = bpf_get_current_task();
  int v = check_exec(pol, cgid, task, (__u64)BPF_CORE_READ(bprm, file), e, checks);
  if (!v) return 0;
  __u32 rule = v & 0xff;
  int enforce = (pol->enforce & rule_flag(rule)) != 0;
  fill_task(e, cgid);
  e->rule = rule;
  e->detail = (v >> 8) & 0xff;
  e->mech = mech;
  e->action = enforce ? (mech == VG_MECH_TP_EXEC ? VG_ACT_KILLED : VG_ACT_BLOCKED) : VG_ACT_AUDITED;
  emit(e, pol);
  return enforce;
}

/* Whether the loader attached lsm/bprm_check_security (meta[VG_META_MECHS]). */
static __always_inline int lsm_exec_attached(void) {
  __u32 key = VG_META_MECHS;
  __u32* m = bpf_map_lookup_elem(&meta, &key);
  return m && (*m & VG_MECHS_LSM_EXEC);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vg_exec, struct task_struct* p, pid_t old_pid, struct linux_binprm* bprm) {
  if (on_exec(bprm, VG_MECH_TP_EXEC, lsm_exec_attached() ? CHK_AFTER_LSM : CHK_ALL)) {
    /* Delivered on the way back to user space: before the new program's first instruction. */
    bpf_send_signal(SIGKILL);
    count(VG_STAT_KILLED);
  }
  return 0;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(vg_lsm_exec, struct linux_binprm* bprm, int ret) {
  if (ret) return ret;
  /* The new argv is not in current's mm yet: the tracepoint decides what needs it. */
  return on_exec(bprm, VG_MECH_LSM_BPRM, CHK_LSM) ? -EPERM : 0;
}

/* ---- egress ---- */

static __always_inline int cidr_match(const __u8* a, const struct vg_egress_rule* r) {
  int prefix = r->prefix;
#pragma unroll
  for (int b = 0; b < 16; b++) {
    int bits = prefix - 8 * b;
    if (bits <= 0) break;
    __u8 mask = bits >= 8 ? 0xff : (__u8)(0xff << (8 - bits));
    if ((a[b] ^ r->addr[b]) & mask) return 0;
  }
  return 1;
}

/* 1 = allow. family/addr as the destination (IPv4-mapped IPv6 already turned into IPv4). */
static __always_inline int egress_allowed(struct vg_policy* pol, __u8 family, const __u8* addr,
                                          __u16 port, __u8 proto) {
  for (int i = 0; i < VG_MAX_EGRESS; i++) {
    if (i >= pol->n_egress) break;
    struct vg_egress_rule* r = &pol->egress[i];
    if (r->family != family) continue;
    if (r->proto && r->proto != proto) continue;
    if (port < r->port_lo || port > r->port_hi) continue;
    if (cidr_match(addr, r)) return 1;
  }
  return 0;
}

static __always_inline int egress(__u8 family, const __u8* addr, __u16 port, __u8 proto,
                                  __u16 mech) {
  __u64 cgid = 0;
  struct vg_policy* pol = find_policy(&cgid);
  if (!pol || !(pol->enabled & VG_F_EGRESS)) return 1;
  if (egress_allowed(pol, family, addr, port, proto)) return 1;
  int enforce = (pol->enforce & VG_F_EGRESS) != 0;
  struct vg_event* e = scratch_event();
  if (e) {
    __u64 pt = bpf_get_current_pid_tgid(), ug = bpf_get_current_uid_gid();
    e->ts_boot_ns = bpf_ktime_get_boot_ns();
    e->cgroup_id = cgid;
    e->pid = pt >> 32;
    struct task_struct* t = (void*)bpf_get_current_task();
    e->ppid = BPF_CORE_READ(t, real_parent, tgid);
    e->uid = (__u32)ug;
    e->gid = ug >> 32;
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    e->rule = VG_RULE_EGRESS;
    e->action = enforce ? VG_ACT_BLOCKED : VG_ACT_AUDITED;
    e->mech = mech;
    e->detail = 0;
    e->family = family;
    e->proto = proto;
    e->port = port;
    __builtin_memcpy(e->addr, addr, 16);
    unsigned long start = BPF_CORE_READ(t, mm, arg_start), end = BPF_CORE_READ(t, mm, arg_end);
    __u64 len = end > start ? end - start : 0;
    if (len > VG_ARGV_LEN) len = VG_ARGV_LEN;
    len = BOUNDED(len, 1023);
    if (len > VG_ARGV_LEN || bpf_probe_read_user(e->argv, len, (void*)start) != 0) len = 0;
    e->argv_len = len;
    struct fs_struct* fs = BPF_CORE_READ(t, fs);
    e->cwd_len = fs ? path_components(&fs->pwd, &fs->root, e->cwd) : 0;
    e->exe[0] = 0;
    emit(e, pol);
  }
  return enforce ? 0 : 1;
}

static __always_inline int egress4(struct bpf_sock_addr* ctx, __u16 mech) {
  __u8 addr[16] = {};
  __u32 ip = ctx->user_ip4;
  __builtin_memcpy(addr, &ip, 4);
  return egress(AF_INET, addr, bpf_ntohs((__u16)ctx->user_port), (__u8)ctx->protocol, mech);
}

static __always_inline int egress6(struct bpf_sock_addr* ctx, __u16 mech) {
  __u8 addr[16] = {};
  __u32 w[4];
  w[0] = ctx->user_ip6[0];
  w[1] = ctx->user_ip6[1];
  w[2] = ctx->user_ip6[2];
  w[3] = ctx->user_ip6[3];
  __u16 port = bpf_ntohs((__u16)ctx->user_port);
  __u8 proto = (__u8)ctx->protocol;
  if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff)) {
    __builtin_memcpy(addr, &w[3], 4); /* ::ffff:a.b.c.d is IPv4 */
    return egress(AF_INET, addr, port, proto, mech);
  }
  __builtin_memcpy(addr, w, 16);
  return egress(AF_INET6, addr, port, proto, mech);
}

SEC("cgroup/connect4")
int vg_connect4(struct bpf_sock_addr* ctx) {
  return egress4(ctx, VG_MECH_CONNECT4);
}

SEC("cgroup/connect6")
int vg_connect6(struct bpf_sock_addr* ctx) {
  return egress6(ctx, VG_MECH_CONNECT6);
}

SEC("cgroup/sendmsg4")
int vg_sendmsg4(struct bpf_sock_addr* ctx) {
  return egress4(ctx, VG_MECH_SENDMSG4);
}

SEC("cgroup/sendmsg6")
int vg_sendmsg6(struct bpf_sock_addr* ctx) {
  return egress6(ctx, VG_MECH_SENDMSG6);
}

/* ---- W^X (LSM only; without it seccomp in the container does this) ---- */

static __always_inline int wx_event(__u16 mech) {
  __u64 cgid = 0;
  struct vg_policy* pol = find_policy(&cgid);
  if (!pol || !(pol->enabled & VG_F_WX)) return 0;
  int enforce = (pol->enforce & VG_F_WX) != 0;
  struct vg_event* e = scratch_event();
  if (e) {
    e->argv_len = 0;
    e->family = 0;
    e->port = 0;
    e->exe[0] = 0;
    fill_task(e, cgid);
    e->rule = VG_RULE_WX;
    e->action = enforce ? VG_ACT_BLOCKED : VG_ACT_AUDITED;
    e->mech = mech;
    e->detail = 0;
    emit(e, pol);
  }
  return enforce;
}

/* ---- executable mappings of dropped or fileless files (LSM only) ----
 * A dropped program run through the image's own dynamic loader (`ld.so /tmp/x`), or a library
 * dlopen'ed from a dropped file, is never exec'ed: the loader maps it with PROT_EXEC. Whatever
 * decides an exec decides the mapping: the same drift and fileless checks on the mapped file. */
static __always_inline int exec_mapping(struct file* file, __u16 mech) {
  __u64 cgid = 0;
  struct vg_policy* pol = find_policy(&cgid);
  if (!pol) return 0;
  /* The program's own file: mapped by exec, whose hooks already decided (one event, not two). */
  struct task_struct* cur = bpf_get_current_task_btf();
  if ((void*)BPF_CORE_READ(cur, mm, exe_file) == (void*)file) return 0;
  int v = vg_fileless_check(pol, (__u64)file);
  if (!v) v = vg_drift_check(pol, (__u64)file);
  if (!v) return 0;
  __u32 rule = v & 0xff;
  int enforce = (pol->enforce & rule_flag(rule)) != 0;
  struct vg_event* e = scratch_event();
  if (e) {
    e->argv_len = 0;
    e->family = 0;
    e->port = 0;
    e->exe[0] = 0; /* the mapping process: user space reads it */
    fill_task(e, cgid);
    struct fs_struct* fs = BPF_CORE_READ(cur, fs);
    /* The mapped file, in place of argv (guard_abi.h). */
    e->argv_len = fs ? path_components((struct path*)&file->f_path, &fs->root, e->argv) : 0;
    e->rule = rule;
    e->detail = (v >> 8) & 0xff;
    e->mech = mech;
    e->action = enforce ? VG_ACT_BLOCKED : VG_ACT_AUDITED;
    emit(e, pol);
  }
  return enforce;
}

SEC("lsm/file_mprotect")
int BPF_PROG(vg_lsm_mprotect, struct vm_area_struct* vma, unsigned long reqprot, unsigned long prot,
             int ret) {
  if (ret) return ret;
  if (!(prot & PROT_EXEC)) return 0;
  unsigned long flags = BPF_CORE_READ(vma, vm_flags);
  struct file* file = BPF_CORE_READ(vma, vm_file);
  /* Anonymous memory gaining exec, or a mapping that is (or becomes) writable and executable. */
  if (!file || (prot & PROT_WRITE) || (flags & VM_WRITE))
    if (wx_event(VG_MECH_LSM_MPROTECT)) return -EACCES;
  if (file && !(flags & VM_EXEC)) return exec_mapping(file, VG_MECH_LSM_MPROTECT) ? -EACCES : 0;
  return 0;
}

SEC("lsm/mmap_file")
int BPF_PROG(vg_lsm_mmap, struct file* file, unsigned long reqprot, unsigned long prot,
             unsigned long flags, int ret) {
  if (ret) return ret;
  if (!(prot & PROT_EXEC)) return 0;
  if (!file || (prot & PROT_WRITE))
    if (wx_event(VG_MECH_LSM_MMAP)) return -EACCES;
  if (!file) return 0;
  /* The checks are global subprograms, which take the file as a plain value: read it as one. */
  struct file* f = NULL;
  bpf_probe_read_kernel(&f, sizeof(f), &ctx[0]);
  return exec_mapping(f, VG_MECH_LSM_MMAP) ? -EACCES : 0;
}
