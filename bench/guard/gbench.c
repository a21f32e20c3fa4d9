/* Workloads for the guard benchmark, run inside containers (static):
 *   gbench exec N          fork+exec /bin/true N times: prints "exec_ns <per exec>"
 *   gbench syscalls N      N getpid(), N/4 64-byte reads of /dev/zero and N/4 of a file on the
 *                          root filesystem: "getpid_ns X read_ns Y fileread_ns Z"
 *   gbench latency N PATH  N times: stamp CLOCK_REALTIME, fork, exec PATH true; prints "pid ns"
 *   gbench notify N        N times: stamp, ptrace(PTRACE_TRACEME): prints "seq ns"
 *   gbench rate R S PATH   exec PATH true at R per second (0: as fast as possible) for S seconds:
 *                          prints "execs N seconds T" */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void run(const char* path) {
  char* argv[] = {(char*)path, "true", NULL};
  char* env[] = {NULL};
  pid_t p = fork();
  if (p == 0) {
    execve(path, argv, env);
    _exit(127);
  }
  waitpid(p, NULL, 0);
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  long n = atol(argv[2]);
  if (!strcmp(argv[1], "exec")) {
    long long t0 = now_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < n; i++) run("/bin/true");
    printf("exec_ns %.0f\n", (double)(now_ns(CLOCK_MONOTONIC) - t0) / n);
    return 0;
  }
  if (!strcmp(argv[1], "syscalls")) {
    long long t0 = now_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < n; i++) syscall(SYS_getpid);
    long long t1 = now_ns(CLOCK_MONOTONIC);
    int fd = open("/dev/zero", O_RDONLY);
    char buf[64];
    long m = n / 4;
    for (long i = 0; i < m; i++)
      if (read(fd, buf, sizeof(buf)) != sizeof(buf)) return 1;
    long long t2 = now_ns(CLOCK_MONOTONIC);
    /* A file on the container's root filesystem (a mount the guard marks for exec decisions). */
    int ff = open("/bin/gbench", O_RDONLY);
    for (long i = 0; i < m; i++)
      if (pread(ff, buf, sizeof(buf), 0) != sizeof(buf)) return 1;
    long long t3 = now_ns(CLOCK_MONOTONIC);
    printf("getpid_ns %.1f read_ns %.1f fileread_ns %.1f\n", (double)(t1 - t0) / n,
           (double)(t2 - t1) / m, (double)(t3 - t2) / m);
    return 0;
  }
  if (!strcmp(argv[1], "latency") && argc == 4) {
    for (long i = 0; i < n; i++) {
      long long t = now_ns(CLOCK_REALTIME);
      pid_t p = fork();
      if (p == 0) {
        char* a[] = {argv[3], "true", NULL};
        char* e[] = {NULL};
        execve(argv[3], a, e);
        _exit(127);
      }
      printf("%d %lld\n", p, t);
      waitpid(p, NULL, 0);
      usleep(2000);
    }
    return 0;
  }
  if (!strcmp(argv[1], "notify")) {
    for (long i = 0; i < n; i++) {
      long long t = now_ns(CLOCK_REALTIME);
      ptrace(PTRACE_TRACEME, 0, 0, 0);
      printf("%ld %lld\n", i, t);
      usleep(2000);
    }
    return 0;
  }
  if (!strcmp(argv[1], "rate") && argc == 5) {
    long rate = n;
    double secs = atof(argv[3]);
    long long t0 = now_ns(CLOCK_MONOTONIC), end = t0 + (long long)(secs * 1e9);
    long count = 0;
    while (now_ns(CLOCK_MONOTONIC) < end) {
      run(argv[4]);
      count++;
      if (rate > 0) {
        long long next = t0 + count * 1000000000LL / rate;
        struct timespec ts = {next / 1000000000LL, next % 1000000000LL};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
      }
    }
    printf("execs %ld seconds %.3f\n", count, (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9);
    return 0;
  }
  return 2;
}
