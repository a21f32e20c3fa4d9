// A directory that plays the Linux kernel for configfs-tsm: ConfigfsTsm's hook fills each new
// report entry with the attributes the kernel would create, bumps "generation" on every write
// and makes outblob from inblob. This tests veil's side of the protocol only: the real kernel
// path (configfs, sev-guest, tdx-guest, firmware, QGS) is NOT exercised on this host, which has
// no TEE.
#pragma once

#include <stdlib.h>

#include <functional>
#include <string>
#include <vector>

#include "attest/tsm/configfs.hpp"
#include "base/file.hpp"

namespace veil::attest::tsm::fake {

inline std::string temp_dir() {
  char tmpl[] = "/tmp/veil-tsm-XXXXXX";
  return ::mkdtemp(tmpl);
}

struct FakeKernel {
  std::string provider = "sev_guest";
  std::string auxblob;          // created only if not empty
  std::string privlevel_floor;  // created only if not empty
  bool create_inblob = true;
  int concurrent_writes = 0;  // this many requests see another writer bump generation
  std::function<std::string(const std::string& inblob)> make_outblob = [](const std::string& in) {
    return "REPORT(" + in + ")";
  };
  std::vector<std::string> steps;    // "step entry-name"
  std::vector<std::string> entries;  // each entry created
  std::string last_inblob, last_privlevel;

  unsigned long generation(const std::string& e) {
    return std::stoul(read_file(e + "/generation").value());
  }
  void bump(const std::string& e, unsigned long by = 1) {
    (void)write_file_atomic(e + "/generation", std::to_string(generation(e) + by) + "\n");
  }

  ConfigfsTsm::Hook hook() {
    return [this](std::string_view step, const std::string& e) {
      steps.push_back(std::string(step) + " " + e.substr(e.rfind('/') + 1));
      if (step == "mkdir") {
        entries.push_back(e);
        (void)write_file_atomic(e + "/provider", provider + "\n");
        (void)write_file_atomic(e + "/generation", "0\n");
        if (create_inblob) (void)write_file_atomic(e + "/inblob", "");
        (void)write_file_atomic(e + "/outblob", "");
        if (!auxblob.empty()) (void)write_file_atomic(e + "/auxblob", auxblob);
        if (!privlevel_floor.empty()) {
          (void)write_file_atomic(e + "/privlevel_floor", privlevel_floor + "\n");
          (void)write_file_atomic(e + "/privlevel", "");
        }
      } else if (step == "write privlevel") {
        last_privlevel = read_file(e + "/privlevel").value();
        bump(e);
      } else if (step == "write inblob") {
        last_inblob = read_file(e + "/inblob").value();
        (void)write_file_atomic(e + "/outblob", make_outblob(last_inblob));
        bump(e);
        if (concurrent_writes > 0) {
          --concurrent_writes;
          bump(e);  // someone else wrote to the entry meanwhile
        }
      } else if (step == "rmdir") {
        // configfs removes the attributes with the directory; a plain directory needs help.
        for (const char* f : {"provider", "generation", "inblob", "outblob", "auxblob", "privlevel",
                              "privlevel_floor"})
          ::unlink((e + "/" + f).c_str());
      }
    };
  }
};

}  // namespace veil::attest::tsm::fake
