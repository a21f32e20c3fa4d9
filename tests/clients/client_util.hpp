// Helpers for the real-client tests: commands with a deadline, temp dirs, and the cleanup that
// makes sure no daemon, shim, conmon, mount, cgroup or veil state outlives a test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace veil::clients {

struct Cmd {
  int code = -1;
  bool timed_out = false;
  std::string out, err, cmdline;
  double seconds = 0;
  // For assertion messages: the command line, exit code, stdout and stderr.
  std::string describe() const;
};

// Runs argv (no shell, PATH lookup) in its own process group; stdin from `in` (or empty). After
// timeout_ms the whole process group is killed with SIGKILL and timed_out is set.
Cmd run(const std::vector<std::string>& argv, int timeout_ms = 60000, const std::string& in = "");

// Full path of a program found in PATH (or /usr/sbin, /sbin), empty if not found.
std::string which(const std::string& prog);

// mkdtemp under /tmp, mode 0755.
std::string make_temp_dir(const std::string& prefix);

// Polls pred every 50 ms until it is true or timeout_ms passed; returns the last result.
bool wait_until(const std::function<bool()>& pred, int timeout_ms);

// Pids of processes whose NUL-separated command line contains needle (zombies excluded).
std::vector<pid_t> pids_with_cmdline(const std::string& needle);
// SIGKILLs them and waits (bounded) until they are gone.
void kill_pids(const std::vector<pid_t>& pids);

// Mount points at or under dir, deepest first.
std::vector<std::string> mounts_under(const std::string& dir);
// Detaches every mount under dir, then removes dir (one filesystem, no symlinks followed).
void remove_tree(const std::string& dir);

// Cgroup directories named rel (e.g. "/veiltest-123") in every mounted hierarchy that exist.
std::vector<std::string> cgroup_dirs(const std::string& rel);
// rmdir's those directories and everything below them (bottom-up; only empty cgroups go).
void remove_cgroup_dirs(const std::string& rel);

// Removes `path` and its parents up to (excluding) `stop` while they are empty directories.
void rmdir_empty_up(const std::string& path, const std::string& stop);

// Builds the busybox-static OCI image archive (tests/clients/make-oci-image.sh); cmd_json is the
// image's Cmd.
Cmd make_image(const std::string& out_tar, const std::string& name,
               const std::string& cmd_json = R"(["sh"])");

// True when the bounding set of this process contains the capability.
bool have_bounding_cap(int cap);

// Whether the file at path exists.
bool exists(const std::string& path);
std::string read(const std::string& path);
void write(const std::string& path, const std::string& data);

double seconds_since(std::chrono::steady_clock::time_point t);

inline const std::string kVeil = VEIL_BINARY;

}  // namespace veil::clients
