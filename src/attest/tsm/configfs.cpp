#include "attest/tsm/configfs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "attest/crypto.hpp"
#include "base/fd.hpp"
#include "base/file.hpp"

namespace veil::attest::tsm {
namespace {

std::string base(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

// One write(2) of the whole value, and close(2) checked: configfs reports some errors there.
Result<> write_attr(const std::string& path, std::string_view data) {
  std::string what = "tsm: write " + base(path);
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno(what);
  ssize_t n;
  do {
    n = ::write(fd, data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    int e = errno;
    ::close(fd);
    return fail(what, e);
  }
  if (static_cast<size_t>(n) != data.size()) {
    ::close(fd);
    return fail(what + ": short write (" + std::to_string(n) + " of " +
                std::to_string(data.size()) + " bytes)");
  }
  if (::close(fd) != 0) return fail_errno(what);
  return {};
}

Result<std::string> read_attr(const std::string& path) {
  auto r = read_file(path);
  if (!r) return fail("tsm: read " + base(path), r.error().err);
  return r;
}

Result<unsigned long> read_generation(const std::string& entry) {
  auto text = VEIL_TRY(read_attr(entry + "/generation"));
  auto g = parse_generation(text);
  if (!g) return std::unexpected(g.error().wrap("tsm: read generation"));
  return g;
}

}  // namespace

Result<unsigned long> parse_generation(std::string_view t) {
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.remove_suffix(1);
  if (t.empty() || t.size() > 20) return fail("not a number: \"" + std::string(t) + "\"");
  unsigned long v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return fail("not a number: \"" + std::string(t) + "\"");
    unsigned long d = static_cast<unsigned long>(c - '0');
    if (v > (~0ul - d) / 10) return fail("number too large");
    v = v * 10 + d;
  }
  return v;
}

Result<std::string> inblob_for(std::string_view report_data) {
  if (report_data.size() > kInblobSize)
    return fail("tsm: report data is " + std::to_string(report_data.size()) +
                " bytes; the TEE's field holds 64");
  std::string b(report_data);
  b.resize(kInblobSize, '\0');
  return b;
}

Result<TsmReport> ConfigfsTsm::once(const std::string& entry, std::string_view inblob,
                                    std::optional<unsigned> privlevel, bool* conflict) const {
  unsigned long g0 = VEIL_TRY(read_generation(entry));
  unsigned long writes = 0;
  if (!privlevel && path_exists(entry + "/privlevel_floor")) {
    // Below the floor the kernel refuses the report (an SNP guest under an SVSM runs above
    // VMPL 0); at it, the report says the level this guest really runs at.
    auto floor_text = VEIL_TRY(read_attr(entry + "/privlevel_floor"));
    auto floor = parse_generation(floor_text);
    if (!floor) return std::unexpected(floor.error().wrap("tsm: read privlevel_floor"));
    if (*floor > 0) privlevel = static_cast<unsigned>(*floor);
  }
  if (privlevel) {
    VEIL_CHECK(write_attr(entry + "/privlevel", std::to_string(*privlevel) + "\n"));
    ++writes;
    step("write privlevel", entry);
  }
  VEIL_CHECK(write_attr(entry + "/inblob", inblob));
  ++writes;
  step("write inblob", entry);
  TsmReport r;
  r.entry = entry;
  auto provider = VEIL_TRY(read_attr(entry + "/provider"));
  r.provider = provider.substr(0, provider.find('\n'));
  r.outblob = VEIL_TRY(read_attr(entry + "/outblob"));
  step("read outblob", entry);
  if (path_exists(entry + "/auxblob")) r.auxblob = VEIL_TRY(read_attr(entry + "/auxblob"));
  unsigned long g1 = VEIL_TRY(read_generation(entry));
  if (g1 != g0 + writes) {
    *conflict = true;
    return fail("tsm: generation of " + entry + " went from " + std::to_string(g0) + " to " +
                std::to_string(g1) + ", expected " + std::to_string(g0 + writes) +
                " (another process wrote to the entry, or the kernel refused a write)");
  }
  if (r.outblob.empty()) return fail("tsm: read outblob: empty");
  return r;
}

Result<TsmReport> ConfigfsTsm::generate(std::string_view inblob,
                                        std::optional<unsigned> privlevel) const {
  if (inblob.size() != kInblobSize)
    return fail("tsm: inblob must be 64 bytes, got " + std::to_string(inblob.size()));
  if (!path_exists(root_)) return fail_errno("tsm: " + root_);
  Error last{"tsm: no attempt made"};
  for (int attempt = 0; attempt < attempts_; ++attempt) {
    std::string entry =
        root_ + "/veil-" + std::to_string(::getpid()) + "-" + crypto::hex(crypto::random_bytes(8));
    if (::mkdir(entry.c_str(), 0700) != 0) {
      int e = errno;
      if (e == EEXIST) continue;  // a name clash: a new random name
      std::string hint = e == ENXIO ? " (no TSM provider is registered: no TEE guest driver)" : "";
      return fail("tsm: mkdir " + entry + hint, e);
    }
    step("mkdir", entry);
    bool conflict = false;
    auto r = once(entry, inblob, privlevel, &conflict);
    step("rmdir", entry);
    if (::rmdir(entry.c_str()) != 0) {
      int e = errno;
      if (r) return fail("tsm: rmdir " + entry, e);
      return fail(r.error().str() + "; rmdir " + entry + ": " + std::strerror(e));
    }
    if (r || !conflict) return r;
    last = r.error();
  }
  return fail(last.msg + "; gave up after " + std::to_string(attempts_) + " attempts");
}

}  // namespace veil::attest::tsm
