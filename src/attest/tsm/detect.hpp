// Which evidence kinds this machine can produce, and why the others are absent. Header-only on
// purpose: `veil check` (the static runtime binary, which links no attestation code) includes it
// as well as veil-attest.
//
//   snp     configfs-tsm provider "sev_guest", else /dev/sev-guest (AMD SEV-SNP guest)
//   tdx     configfs-tsm provider "tdx_guest", else /dev/tdx_guest (Intel TDX guest)
//   tpm     /dev/tpmrm0 or /dev/tpm0
//   sample  always (INSECURE, development only)
//
// configfs-tsm only shows its provider inside a report entry, so detect() reads the provider of
// an entry that already exists, else (probe) creates one, reads it and removes it again; that
// needs root. Every path is under Paths::root so tests can point it at a directory.
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "base/file.hpp"

namespace veil::attest::tsm {

inline constexpr const char* kSnpTee = "snp";
inline constexpr const char* kTdxTee = "tdx";
inline constexpr const char* kSevGuestProvider = "sev_guest";
inline constexpr const char* kTdxGuestProvider = "tdx_guest";

// Where the kernel interfaces are. root is a prefix ("" = this machine's filesystem).
struct Paths {
  std::string root;
  std::string configfs() const { return root + "/sys/kernel/config"; }
  std::string tsm_report() const { return root + "/sys/kernel/config/tsm/report"; }
  std::string sev_guest() const { return root + "/dev/sev-guest"; }
  std::string tdx_guest() const { return root + "/dev/tdx_guest"; }
  std::string tpmrm0() const { return root + "/dev/tpmrm0"; }
  std::string tpm0() const { return root + "/dev/tpm0"; }
  // The TDX CC event log (ACPI CCEL table), sent with a TDX quote for RTMR replay.
  std::string ccel() const { return root + "/sys/firmware/acpi/tables/data/CCEL"; }
};

// The TEE a configfs-tsm provider name stands for ("" if none veil supports).
inline std::string tee_of_provider(std::string_view provider) {
  if (provider == kSevGuestProvider) return kSnpTee;
  if (provider == kTdxGuestProvider) return kTdxTee;
  return "";
}

inline bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A provider file's first line ("" if unreadable).
inline std::string read_provider(const std::string& file) {
  auto text = read_file(file);
  if (!text) return "";
  auto nl = text->find('\n');
  return nl == std::string::npos ? *text : text->substr(0, nl);
}

struct TsmProbe {
  bool present = false;  // the report directory exists
  std::string provider;  // e.g. "sev_guest"; "" if unknown
  std::string reason;    // why the provider is unknown
};

// configfs-tsm's provider: from an existing report entry, else (probe) from a short-lived one.
inline TsmProbe probe_tsm(const Paths& p, bool probe = true) {
  TsmProbe r;
  std::string dir = p.tsm_report();
  if (!is_dir(dir)) {
    r.reason = !is_dir(p.configfs())
                   ? "no /sys/kernel/config (configfs not available)"
                   : "no configfs-tsm under /sys/kernel/config (configfs not mounted, kernel older "
                     "than 6.7, or no TEE guest driver)";
    return r;
  }
  r.present = true;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      r.provider = read_provider(dir + "/" + e->d_name + "/provider");
      if (!r.provider.empty()) break;
    }
    ::closedir(d);
  }
  if (!r.provider.empty() || !probe) {
    if (r.provider.empty()) r.reason = "configfs-tsm present, provider not probed";
    return r;
  }
  std::string entry = dir + "/veil-probe-" + std::to_string(::getpid()) + "-" +
                      std::to_string(static_cast<long long>(::time(nullptr)));
  if (::mkdir(entry.c_str(), 0700) != 0) {
    int e = errno;
    if (e == ENXIO)
      r.reason = "configfs-tsm has no provider (no TEE guest driver registered)";
    else if (e == EACCES || e == EPERM)
      r.reason = "configfs-tsm present, but reading its provider needs root";
    else
      r.reason = std::string("configfs-tsm: mkdir ") + entry + ": " + std::strerror(e);
    return r;
  }
  r.provider = read_provider(entry + "/provider");
  ::rmdir(entry.c_str());
  if (r.provider.empty()) r.reason = "configfs-tsm report entry has no provider attribute";
  return r;
}

struct Capability {
  std::string kind;  // "snp", "tdx", "tpm", "sample"
  bool available = false;
  std::string source;  // where the evidence comes from, e.g. "configfs-tsm (sev_guest)"
  std::string reason;  // why not available (or, for sample, the warning)
};

// Every kind, in the order snp, tdx, tpm, sample, given what probe_tsm() found.
inline std::vector<Capability> detect(const Paths& p, const TsmProbe& tsm) {
  std::vector<Capability> out;
  struct Tee {
    const char* kind;
    const char* provider;
    std::string dev;
  } tees[] = {{kSnpTee, kSevGuestProvider, p.sev_guest()},
              {kTdxTee, kTdxGuestProvider, p.tdx_guest()}};
  for (const auto& t : tees) {
    Capability c{t.kind};
    std::string dev_name = t.dev.substr(p.root.size());
    if (tsm.provider == t.provider) {
      c.available = true;
      c.source = std::string("configfs-tsm (") + t.provider + ")";
    } else if (path_exists(t.dev)) {
      c.available = true;
      c.source = dev_name;
    } else {
      std::string why =
          !tsm.provider.empty() ? "configfs-tsm provider is \"" + tsm.provider + "\"" : tsm.reason;
      c.reason = why + "; no " + dev_name;
    }
    out.push_back(std::move(c));
  }
  Capability tpm{"tpm"};
  if (path_exists(p.tpmrm0())) {
    tpm.available = true;
    tpm.source = "/dev/tpmrm0";
  } else if (path_exists(p.tpm0())) {
    tpm.available = true;
    tpm.source = "/dev/tpm0";
  } else {
    tpm.reason = "no /dev/tpmrm0 or /dev/tpm0";
  }
  out.push_back(std::move(tpm));
  out.push_back({"sample", true, "software key", "INSECURE, development only"});
  return out;
}

inline std::vector<Capability> detect(const Paths& p = {}, bool probe = true) {
  return detect(p, probe_tsm(p, probe));
}

}  // namespace veil::attest::tsm
