// A small static helper for the integration tests, copied into test containers or run on the host.
//   probe session-key MARKER -- CMD...   host side: join a new session keyring, add a "user" key
//                                        described MARKER to it, exec CMD (which inherits it)
//   probe keyring MARKER                 container side: print "session=<description>" of the
//                                        session keyring and "marker=found|absent" (searched from
//                                        the session keyring)
#include <errno.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long keyctl(int op, unsigned long a, unsigned long b, unsigned long c, unsigned long d) {
  return syscall(SYS_keyctl, op, a, b, c, d);
}

int main(int argc, char** argv) {
  if (argc >= 5 && strcmp(argv[1], "session-key") == 0 && strcmp(argv[3], "--") == 0) {
    if (keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0) < 0) return perror("join"), 2;
    if (syscall(SYS_add_key, "user", argv[2], "host-secret", 11, KEY_SPEC_SESSION_KEYRING) < 0)
      return perror("add_key"), 2;
    execvp(argv[4], argv + 4);
    return perror("exec"), 2;
  }
  if (argc == 3 && strcmp(argv[1], "keyring") == 0) {
    long id = keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0);
    char desc[512] = "";
    if (id >= 0) keyctl(KEYCTL_DESCRIBE, (unsigned long)id, (unsigned long)desc, sizeof desc - 1, 0);
    long found = keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user",
                        (unsigned long)argv[2], 0);
    printf("session=%s\nmarker=%s\n", desc, found >= 0 ? "found" : "absent");
    return 0;
  }
  fprintf(stderr, "usage: probe session-key MARKER -- CMD... | probe keyring MARKER\n");
  return 2;
}
