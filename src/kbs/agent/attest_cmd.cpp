// veil-attest attest / measure: what `veil attest` and `veil measure` run.
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <map>
#include <string>

#include "attest/crypto.hpp"
#include "attest/measure.hpp"
#include "base/fd.hpp"
#include "base/file.hpp"
#include "kbs/agent/commands.hpp"
#include "kbs/agent/job.hpp"

namespace veil::agent {
namespace {

constexpr const char* kAttestUsage =
    "usage: veil attest [flags] --resource REPO/TYPE/TAG\n"
    "\n"
    "Attest a bundle to the KBS the way `veil create` does for org.veil.secrets (measure it,\n"
    "produce evidence with the configured backend: tpm extends PCR 23 and quotes; snp and tdx\n"
    "ask this confidential VM's TEE for a signed report; sample is INSECURE), fetch one resource\n"
    "and print it to stdout, or write it to --out FILE.\n"
    "\n"
    "  -r, --resource R   kbs:///REPO/TYPE/TAG or REPO/TYPE/TAG (required)\n"
    "  -b, --bundle DIR   the sandbox to attest as (default: .)\n"
    "      --kbs URL      KBS address (default: kbs.url of the config)\n"
    "      --ca FILE      CA certificate of an https KBS (default: kbs.ca_cert)\n"
    "  -o, --out FILE     write the secret to FILE (a new file, mode 0400: then it is on disk)\n"
    "      --config FILE  veil config (default: $VEIL_CONFIG, else /etc/veil/config.json)\n";

constexpr const char* kMeasureUsage =
    "usage: veil measure [--bundle DIR]\n"
    "\n"
    "Print the sandbox measurement (hex SHA-256) of a bundle: the reference value a KBS policy\n"
    "names. The same as `veil-kbs measure`; the algorithm is in docs/attestation.md.\n"
    "\n"
    "  -b, --bundle DIR   bundle directory with config.json (default: .)\n";

int die(const std::string& msg, int code = 1) {
  fprintf(stderr, "veil attest: %s\n", msg.c_str());
  return code;
}

std::string absolute(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf)) return buf;
  return p;
}

// Parses --name VALUE / --name=VALUE / -x VALUE flags into `out`; returns false on a usage error
// (after printing it). "help" is set for -h/--help.
bool parse_flags(int argc, char** argv, const char* cmd, std::map<std::string, std::string>& out,
                 std::initializer_list<std::pair<const char*, char>> names) {
  std::vector<struct option> longopts;
  std::string shortopts = ":h";
  std::vector<std::string> keys;
  for (auto [name, letter] : names) {
    longopts.push_back({name, required_argument, nullptr, static_cast<int>(256 + keys.size())});
    keys.push_back(name);
    if (letter) {
      shortopts += letter;
      shortopts += ':';
    }
  }
  longopts.push_back({"help", no_argument, nullptr, 'h'});
  longopts.push_back({nullptr, 0, nullptr, 0});
  optind = 1;
  opterr = 0;
  for (;;) {
    int c = getopt_long(argc, argv, shortopts.c_str(), longopts.data(), nullptr);
    if (c == -1) break;
    if (c == 'h') {
      out["help"] = "1";
    } else if (c >= 256) {
      out[keys[static_cast<size_t>(c - 256)]] = optarg;
    } else if (c == ':' || c == '?') {
      fprintf(stderr, "veil %s: bad or incomplete option \"%s\" (see veil %s --help)\n", cmd,
              argv[optind - 1], cmd);
      return false;
    } else {
      for (auto [name, letter] : names)
        if (letter == c) out[name] = optarg;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "veil %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
    return false;
  }
  return true;
}

Result<> write_all(int fd, std::string_view data, const std::string& what) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = ::write(fd, data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return fail_errno("write " + what);
    off += static_cast<size_t>(w);
  }
  return {};
}

void on_alarm(int) {
  static const char msg[] = "veil attest: attestation did not finish within kbs.timeout\n";
  (void)!::write(2, msg, sizeof msg - 1);
  _exit(1);
}

}  // namespace

int measure_main(int argc, char** argv) {
  std::map<std::string, std::string> f;
  if (!parse_flags(argc, argv, "measure", f, {{"bundle", 'b'}})) return 2;
  if (f.contains("help")) {
    fputs(kMeasureUsage, stdout);
    return 0;
  }
  std::string bundle = f.contains("bundle") ? f["bundle"] : ".";
  auto m = attest::measure_bundle(bundle);
  if (!m) {
    fprintf(stderr, "veil measure: bundle %s: %s\n", bundle.c_str(), m.error().str().c_str());
    return 1;
  }
  printf("%s\n", crypto::hex(*m).c_str());
  return 0;
}

int attest_main(int argc, char** argv) {
  std::map<std::string, std::string> f;
  if (!parse_flags(
          argc, argv, "attest", f,
          {{"resource", 'r'}, {"bundle", 'b'}, {"kbs", 0}, {"ca", 0}, {"out", 'o'}, {"config", 0}}))
    return 2;
  if (f.contains("help")) {
    fputs(kAttestUsage, stdout);
    return 0;
  }
  if (!f.contains("resource")) return die("--resource is required (see veil attest --help)", 2);
  auto ref = parse_secret_uri(f["resource"], true);
  if (!ref) return die(ref.error().str(), 2);
  Job job;
  std::string cfg_path = config_path(f.contains("config") ? f["config"] : "");
  if (path_exists(cfg_path) || f.contains("config")) {
    auto cfg = load_config(cfg_path);
    if (!cfg) return die(cfg.error().str());
    job.cfg = *cfg;
  } else {
    job.cfg.path = cfg_path;  // flags may provide the KBS; the backend must come from a config
  }
  if (f.contains("kbs")) {
    if (!f["kbs"].starts_with("http://") && !f["kbs"].starts_with("https://"))
      return die("--kbs must start with http:// or https://", 2);
    job.cfg.kbs.url = f["kbs"];
  }
  if (f.contains("ca")) job.cfg.kbs.ca_cert = absolute(f["ca"]);
  job.bundle = absolute(f.contains("bundle") ? f["bundle"] : ".");
  auto text = read_file(job.bundle + "/config.json");
  if (!text) return die("bundle: " + text.error().str());
  job.config = nlohmann::json::parse(*text, nullptr, false);
  if (!job.config.is_object()) return die(job.bundle + "/config.json: not a JSON object");
  job.secrets = {*ref};
  if (auto r = check_complete(job.cfg); !r) return die(r.error().str());

  Fd out;
  std::string out_path = f.contains("out") ? f["out"] : "";
  if (!out_path.empty()) {
    // Before attesting: a bad --out must not cost a PCR extend and a release.
    out.reset(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400));
    if (!out) return die("--out " + out_path + ": " + strerror(errno));
  }
  ::signal(SIGALRM, on_alarm);
  ::alarm(static_cast<unsigned>(job.cfg.kbs.timeout));
  auto r = run_job(job, [&](const SecretRef&, std::string& plain) -> Result<> {
    if (!out) return write_all(STDOUT_FILENO, plain, "stdout");
    VEIL_CHECK(write_all(out.get(), plain, out_path));
    if (::fsync(out.get()) != 0) return fail_errno("fsync " + out_path);
    return {};
  });
  if (!r) {
    if (out) ::unlink(out_path.c_str());
    return die(r.error().str());
  }
  return 0;
}

}  // namespace veil::agent
