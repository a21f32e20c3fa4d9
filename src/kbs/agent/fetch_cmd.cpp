// veil-attest fetch: the secrets of one container being created, handed to veil as sealed
// memfds (anonymous memory: the plaintext never touches a disk).
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/packet.hpp"
#include "base/strings.hpp"
#include "kbs/agent/commands.hpp"
#include "kbs/agent/job.hpp"
#include "linux/secrets_mount.hpp"

namespace veil::agent {
namespace {

using nlohmann::json;
constexpr int kAnswerFd = 3;

std::string packet_text(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The last packet on failure (cut to fit a packet).
void send_error(const std::string& msg) {
  std::string m = msg.size() > 8000 ? msg.substr(0, 8000) + "..." : msg;
  (void)send_packet(kAnswerFd, packet_text({{"error", m}}));
}

// kbs.timeout bounds the whole exchange: on expiry the error packet goes out from the handler.
std::string g_timeout_packet;
void on_alarm(int) {
  (void)!::send(kAnswerFd, g_timeout_packet.data(), g_timeout_packet.size(), MSG_NOSIGNAL);
  _exit(1);
}

Result<Job> read_request() {
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("read request");
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  json req = json::parse(text, nullptr, false);
  if (!req.is_object() || !req.contains("bundle") || !req["bundle"].is_string() ||
      !req.contains("config") || !req["config"].is_string())
    return fail("malformed request from veil");
  Job job;
  job.bundle = req["bundle"];
  job.config = json::parse(req["config"].get<std::string>(), nullptr, false);
  if (!job.config.is_object()) return fail(job.bundle + "/config.json: not a JSON object");
  const json* ann = nullptr;
  if (job.config.contains("annotations") && job.config["annotations"].is_object() &&
      job.config["annotations"].contains(kSecretsAnnotation))
    ann = &job.config["annotations"][kSecretsAnnotation];
  if (!ann || !ann->is_string())
    return fail(std::string("annotation ") + kSecretsAnnotation + " is missing or not a string");
  job.secrets = VEIL_TRY(parse_secrets_annotation(ann->get<std::string>()));
  job.cfg = VEIL_TRY(load_config());
  return job;
}

Result<Outcome> fetch() {
  auto job = VEIL_TRY(read_request());
  g_timeout_packet =
      packet_text({{"error", strprintf("attestation did not finish within %d s (kbs.timeout in %s)",
                                       job.cfg.kbs.timeout, job.cfg.path.c_str())}});
  ::signal(SIGALRM, on_alarm);
  ::alarm(static_cast<unsigned>(job.cfg.kbs.timeout));
  return run_job(job, [](const SecretRef& s, std::string& plain) -> Result<> {
    auto fd = VEIL_TRY(secrets_mount::sealed_memfd(plain));
    return send_packet(kAnswerFd, packet_text({{"secret", s.tag}, {"size", plain.size()}}),
                       fd.get());
  });
}

}  // namespace

int fetch_main() {
  auto r = fetch();
  if (!r) {
    send_error(r.error().str());
    return 1;
  }
  auto done = send_packet(
      kAnswerFd, packet_text({{"done", true}, {"measurement", r->measurement}, {"tee", r->tee}}));
  return done ? 0 : 1;
}

}  // namespace veil::agent
