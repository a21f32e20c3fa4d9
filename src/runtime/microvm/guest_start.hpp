// Getting a sandbox's guest going, shared by the monitor (one container per VM) and the shim v2
// (one pod per VM): the rootfs image from the cache, and the hello that makes a template clone
// this sandbox's own (token, clock, entropy, network).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "linux/secrets_mount.hpp"
#include "vm/boot.hpp"
#include "vm/image_cache.hpp"

namespace veil::runtime::microvm {

// The rootfs tree as a read-only EROFS image sized to the template's disk, from the image cache
// when this very tree was built before (vm/image_cache.hpp); locked while the result lives.
Result<vm::CachedImage> build_image(const std::string& rootfs);

// Hello: a fresh token the agent must echo, the host's clock, 32 bytes of entropy and the NIC's
// configuration (net, or null). Returns the guest kernel's release.
Result<std::string> greet(vm::Guest& g, const nlohmann::json& net, int timeout_ms);

// org.veil.secrets for the agent's create request: [{"name", "hex"}] from the sealed memfds the
// attestation agent handed over (each plaintext read once into a buffer that is wiped; the hex
// lives only in the request, which wipe_create clears).
Result<nlohmann::json> secrets_request(const std::vector<secrets_mount::SecretFile>& files);

// The agent's create request as one buffer sized up front (a growing string would leave freed
// copies of org.veil.secrets' plaintext behind in the heap), and the wipe of both after sending:
// a long-lived host process (monitor, shim) keeps no copy once the guest has them.
std::string serialize_create(const nlohmann::json& request);
void wipe_create(nlohmann::json& request, std::string& serialized);

}  // namespace veil::runtime::microvm
