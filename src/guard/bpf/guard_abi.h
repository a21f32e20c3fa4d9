/* The contract between the guard's BPF programs (guard.bpf.c), the runtime that registers
 * containers in the pinned maps (src/guard/registry.cpp, raw bpf() syscalls, no libbpf) and the
 * daemon that reads events (src/guard/daemon). Plain C, fixed-size types only: the same bytes are
 * written by user space and read by the kernel, so any change here is an ABI change — bump
 * VG_ABI_VERSION, which `veil-guard load` compares with the pinned maps before reusing them. */
#ifndef VEIL_GUARD_ABI_H
#define VEIL_GUARD_ABI_H

#ifdef __VEIL_BPF__
/* vmlinux.h provides the __u8.. types. */
#else
#include <linux/types.h>
#endif

#define VG_ABI_VERSION 4

#define VG_MAX_EGRESS 16
#define VG_MAX_SHM 4
#define VG_COMM_LEN 16
#define VG_EXE_LEN 256
#define VG_ARGV_LEN 512
#define VG_CWD_LEN 256
#define VG_ID_LEN 72 /* container ids: 64 hex digits from containerd/Podman, NUL-terminated */

/* Rule bits (vg_policy.enabled / .enforce). */
#define VG_F_REVERSE_SHELL (1u << 0)
#define VG_F_FILELESS (1u << 1)
#define VG_F_DRIFT (1u << 2)
#define VG_F_EGRESS (1u << 3)
#define VG_F_WX (1u << 4)
#define VG_F_SENSITIVE (1u << 5)
#define VG_F_EXEC_ALLOWLIST (1u << 6) /* only inodes the daemon approved may run */

/* Event rule ids (vg_event.rule). */
enum vg_rule {
  VG_RULE_REVERSE_SHELL = 1,
  VG_RULE_FILELESS = 2,
  VG_RULE_DRIFT = 3,
  VG_RULE_EGRESS = 4,
  VG_RULE_WX = 5,
  VG_RULE_SENSITIVE = 6,
  VG_RULE_EXEC = 7,
};

/* vg_event.action */
enum vg_action {
  VG_ACT_BLOCKED = 1, /* refused before it happened */
  VG_ACT_KILLED = 2,  /* the process was killed at the action */
  VG_ACT_AUDITED = 3, /* allowed and reported (audit mode) */
};

/* vg_event.mech: which kernel mechanism saw it. */
enum vg_mech {
  VG_MECH_TP_EXEC = 1,  /* tp_btf/sched_process_exec + bpf_send_signal(SIGKILL) */
  VG_MECH_LSM_BPRM = 2, /* lsm/bprm_check_security */
  VG_MECH_CONNECT4 = 3, /* cgroup/connect4 */
  VG_MECH_CONNECT6 = 4,
  VG_MECH_SENDMSG4 = 5,
  VG_MECH_SENDMSG6 = 6,
  VG_MECH_LSM_CONNECT = 7, /* lsm/socket_connect: no longer attached (cgroup/connect4|6) */
  VG_MECH_LSM_MPROTECT = 8,
  VG_MECH_LSM_MMAP = 9,
};

/* vg_event.detail for exec events: what made the decision. */
enum vg_detail {
  VG_D_MEMFD = 1,         /* fileless: a memfd */
  VG_D_DELETED = 2,       /* fileless: a file with no links left */
  VG_D_SHM = 3,           /* fileless: a file on the container's /dev/shm */
  VG_D_CTIME = 4,         /* drift: changed after the container was created */
  VG_D_STDIO_SOCKET = 5,  /* reverse shell: fd 0, 1 or 2 is a network socket */
  VG_D_PARENT_SOCKET = 6, /* reverse shell: the parent's stdio is a network socket */
  VG_D_NETCAT_EXEC = 7,   /* reverse shell: nc -e / ncat --sh-exec */
  VG_D_SOCAT_EXEC = 8,    /* reverse shell: socat EXEC:/SYSTEM: */
  VG_D_NOT_APPROVED = 9,  /* exec allowlist: the daemon has not approved this inode */
};

struct vg_egress_rule {
  __u8 family; /* 2 = AF_INET, 10 = AF_INET6 */
  __u8 prefix; /* CIDR prefix length */
  __u8 proto;  /* 0 any, 6 tcp, 17 udp */
  __u8 pad;
  __u16 port_lo, port_hi; /* host byte order; 0..65535 = any */
  __u8 addr[16];          /* network byte order; IPv4 in the first 4 bytes */
};

/* Value of the `policies` map, keyed by the container's cgroup v2 id (__u64). */
struct vg_policy {
  __u32 enabled;             /* VG_F_* */
  __u32 enforce;             /* VG_F_*: set = enforce, clear = audit */
  __u64 created_ns;          /* CLOCK_REALTIME_COARSE ns at registration: ctime >= this is drift */
  __u32 shm_dev[VG_MAX_SHM]; /* kernel dev_t (major << 20 | minor) of /dev/shm-like mounts */
  __u32 n_shm;
  __u32 n_egress; /* 0 with VG_F_EGRESS: nothing allowed */
  struct vg_egress_rule egress[VG_MAX_EGRESS];
  char container_id[VG_ID_LEN]; /* copied into events: they may outlive the container */
};

/* Key of the `names` map: per container, a program name (the comm after exec, digits and dots
 * at the end removed: python3.11 -> python) -> kind. */
struct vg_name_key {
  __u64 cgroup_id;
  char name[VG_COMM_LEN];
};
enum vg_name_kind { VG_NAME_INTERP = 1, VG_NAME_NETCAT = 2, VG_NAME_SOCAT = 3 };

/* Key of the `approved` map (exec allowlist): an inode as the daemon saw it. */
struct vg_inode_key {
  __u64 cgroup_id;
  __u64 ino;
  __u32 dev; /* 0: overlayfs reports another device to stat() than the kernel inode has */
  __u32 pad;
  __s64 ctime_sec;
};

/* meta[VG_META_MECHS]: which program set the loader attached (bits). The exec tracepoint reads
 * VG_MECHS_LSM_EXEC: with the LSM hook attached it only makes the checks that need argv. */
#define VG_META_ABI 0
#define VG_META_MECHS 1
#define VG_META_BUILD 2 /* 32-bit hash of the BPF object: another build is reloaded */
#define VG_MECHS_LSM_EXEC (1u << 0)
#define VG_MECHS_LSM_NET (1u << 1) /* no longer set: egress is VG_MECHS_CGROUP_NET in both */
#define VG_MECHS_LSM_WX (1u << 2)
#define VG_MECHS_TP_EXEC (1u << 3)
#define VG_MECHS_CGROUP_NET (1u << 4)

/* `stats` (per-CPU array) slots. */
enum vg_stat { VG_STAT_EVENTS = 0, VG_STAT_DROPPED = 1, VG_STAT_KILLED = 2, VG_STAT_MAX = 4 };

/* One ring-buffer record. Strings are NUL-terminated unless they filled their field; argv holds
 * the arguments separated by NULs (argv_len bytes); cwd holds the path components from the leaf
 * up, each followed by '/', cwd_len bytes (user space reverses them). */
struct vg_event {
  __u64 ts_boot_ns;
  __u64 cgroup_id;
  __u32 pid, ppid, uid, gid;
  __u16 rule, action, mech, detail;
  char comm[VG_COMM_LEN];
  __u8 family, proto;
  __u16 port; /* host byte order */
  __u8 addr[16];
  __u32 argv_len, cwd_len;
  char container_id[VG_ID_LEN];
  char exe[VG_EXE_LEN];
  char argv[VG_ARGV_LEN];
  char cwd[VG_CWD_LEN + 64]; /* slack so bounded component copies stay in the buffer */
};
/* Mapping events (rule drift or fileless_exec, mech VG_MECH_LSM_MMAP or VG_MECH_LSM_MPROTECT)
 * carry no argv (user space reads the mapper's from /proc): `argv` holds the mapped file's path
 * components leaf-first, as `cwd` does, argv_len bytes. The record stays this size: the ring
 * buffer's capacity in events is what the loss accounting promises. */

#endif
