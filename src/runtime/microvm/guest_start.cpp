#include "runtime/microvm/guest_start.hpp"

#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file.hpp"
#include "base/strings.hpp"
#include "base/subprocess.hpp"
#include "vm/frame.hpp"

namespace veil::runtime::microvm {

using nlohmann::json;

namespace {

std::string random_hex(size_t n) {
  std::string raw(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(raw.data() + got, n - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
  }
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) out += {d[c >> 4], d[c & 15]};
  return out;
}

// The bundle's rootfs as a read-only EROFS image, sized to the template's disk, from the image
// cache when this very tree was built before (vm/image_cache.hpp).
}  // namespace

Result<vm::CachedImage> build_image(const std::string& rootfs) {
  auto tree = VEIL_TRY(vm::list_tree(rootfs));
  // Refused before writing an image that cannot fit.
  if (tree.bytes > (off_t{vm::kDiskMiB} << 20))
    return fail(
        strprintf("the rootfs holds %lld MiB of files, more than the template's %d MiB disk",
                  static_cast<long long>(tree.bytes >> 20), vm::kDiskMiB));
  return vm::cached_image(tree, [&](const std::string& img) -> Result<> {
    auto r = VEIL_TRY(run_capture({"/usr/bin/mkfs.erofs", "--quiet", img, rootfs}));
    if (r.status == 127 || (r.status != 0 && !path_exists("/usr/bin/mkfs.erofs")))
      return fail("mkfs.erofs is missing (install erofs-utils)");
    if (r.status != 0) return fail("mkfs.erofs " + rootfs + ": " + r.err + r.out);
    struct stat st {};
    if (::stat(img.c_str(), &st) != 0) return fail_errno("stat " + img);
    if (st.st_size > (off_t{vm::kDiskMiB} << 20))
      return fail(strprintf("the rootfs image is %lld MiB, more than the template's %d MiB disk",
                            static_cast<long long>(st.st_size >> 20), vm::kDiskMiB));
    if (::truncate(img.c_str(), off_t{vm::kDiskMiB} << 20) != 0) return fail_errno("size " + img);
    return {};
  });
}

Result<json> secrets_request(const std::vector<secrets_mount::SecretFile>& files) {
  json list = json::array();
  for (const auto& f : files) {
    std::string data(f.size, '\0');
    if (::pread(f.fd.get(), data.data(), data.size(), 0) != static_cast<ssize_t>(f.size))
      return fail_errno("secrets: read " + f.name);
    json& entry = list.emplace_back(json::object());
    entry["name"] = f.name;
    entry["hex"] = to_hex(data);  // moved into place, never copied
    ::explicit_bzero(data.data(), data.size());
  }
  return list;
}

std::string serialize_create(const json& request) {
  size_t need = 4096;
  if (request.contains("secrets"))
    for (const auto& sec : request["secrets"])
      if (sec.is_object() && sec.contains("hex") && sec["hex"].is_string())
        need += sec["hex"].get_ref<const std::string&>().size() + 64;  // no copy
  for (const char* k : {"config", "files", "guard"})
    if (request.contains(k)) need += 2 * request[k].dump().size();
  std::string out;
  out.reserve(need);
  nlohmann::detail::serializer<json> ser(nlohmann::detail::output_adapter<char, std::string>(out),
                                         ' ');
  ser.dump(request, false, false, 0);
  return out;
}

void wipe_create(json& request, std::string& serialized) {
  if (request.contains("secrets")) {
    for (auto& sec : request["secrets"])
      if (sec.is_object() && sec.contains("hex") && sec["hex"].is_string()) {
        auto& h = sec["hex"].get_ref<std::string&>();
        ::explicit_bzero(h.data(), h.size());
      }
    request.erase("secrets");
  }
  ::explicit_bzero(serialized.data(), serialized.size());
}

Result<std::string> greet(vm::Guest& g, const json& net, int timeout_ms) {
  struct timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  std::string token = random_hex(16);
  json hello{{"version", vm::kProtocolVersion},
             {"token", token},
             {"realtime_ns", int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec},
             {"seed", random_hex(32)}};
  if (!net.is_null()) hello["net"] = net;
  VEIL_CHECK(vm::write_all(g.agent.get(), vm::encode_frame(vm::FrameType::hello, 0, hello.dump()),
                           timeout_ms));
  auto ack = VEIL_TRY(vm::wait_frame(g.agent.get(), g.reader, vm::FrameType::hello_ack, 0,
                                     timeout_ms, "agent hello"));
  auto aj = json::parse(ack.payload, nullptr, false);
  auto field = [&](const char* k) {
    return aj.is_object() && aj.contains(k) && aj[k].is_string() ? aj[k].get<std::string>() : "";
  };
  if (field("token") != token)
    return fail("agent hello: the guest answered with another sandbox's token");
  return field("kernel");
}

}  // namespace veil::runtime::microvm
