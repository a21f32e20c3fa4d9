// veil-kbs: key broker service (serve), its admin client, and development helpers.
#include <signal.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "attest/measure.hpp"
#include "attest/sample.hpp"
#include "attest/tpm.hpp"
#include "base/file.hpp"
#include "kbs/cli/commands.hpp"
#include "kbs/client.hpp"
#include "kbs/jose.hpp"
#include "kbs/server.hpp"

using namespace veil;
using attest::json;

namespace {

const char* kUsage = R"(usage:
  veil-kbs serve --config FILE
  veil-kbs keygen --out PREFIX            Ed25519 key pair PREFIX.key/PREFIX.pub (admin or sample)
  veil-kbs measure --bundle DIR           sandbox measurement (hex) of an OCI bundle
  veil-kbs admin --url URL --key ADMIN.key [--ca CERT] COMMAND
      set-resource REPO/TYPE/TAG FILE | get-policy | set-policy FILE | reference-values
      | add-reference HEX | remove-reference HEX | enroll-ak AK.pem | tpm-aks | audit [LIMIT]
  veil-kbs tpm-ak --tcti TCTI              print the TPM's attestation key (PEM) for enrolment
  veil-kbs verify --tee snp|tdx|sgx|tpm|sample --evidence FILE [--report-data HEX]
      [--collateral DIR] [--at UNIX|YYYY-MM-DDTHH:MM:SSZ] [--trusted-key B64URL] [--ak PEM]
      checks one piece of evidence (the JSON sent in /attest, a raw SNP report or DCAP quote)
      offline and prints its claims as JSON; exit 1 names the failed check
  veil-kbs get-resource --url URL [--ca CERT] [--ec] --path REPO/TYPE/TAG
      (--tpm TCTI --bundle DIR [--tpm-log FILE] | --sample-key KEY --measurement HEX [--svn N])
      tpm: measures the bundle, extends PCR 23 (event log default /run/veil/tpm-pcr23.log),
      attests with a quote; sample: INSECURE, development only
)";

struct Args {
  std::map<std::string, std::string> opts;
  std::vector<std::string> pos;
  std::set<std::string> flags;
};

Args parse(int argc, char** argv, int from) {
  Args a;
  for (int i = from; i < argc; i++) {
    std::string s = argv[i];
    if (s == "--ec") {
      a.flags.insert(s);
    } else if (s.starts_with("--") && i + 1 < argc) {
      a.opts[s.substr(2)] = argv[++i];
    } else {
      a.pos.push_back(s);
    }
  }
  return a;
}

int die(const std::string& msg) {
  fprintf(stderr, "veil-kbs: %s\n", msg.c_str());
  return 1;
}

std::string need(const Args& a, const std::string& k) {
  auto it = a.opts.find(k);
  if (it == a.opts.end()) {
    fprintf(stderr, "veil-kbs: --%s is required\n%s", k.c_str(), kUsage);
    exit(2);
  }
  return it->second;
}

kbs::Server* g_server = nullptr;
void on_signal(int) {
  if (g_server) g_server->stop();
}

int serve(const Args& a) {
  auto cfg = kbs::Config::load(need(a, "config"));
  if (!cfg) return die(cfg.error().str());
  auto server = kbs::Server::create(*cfg);
  if (!server) return die(server.error().str());
  auto port = (*server)->bind();
  if (!port) return die(port.error().str());
  std::string scheme = cfg->tls ? "https" : "http";
  printf("veil-kbs listening on %s://%s:%d\n", scheme.c_str(), cfg->host.c_str(), *port);
  if (cfg->tls)
    printf("TLS certificate %s SHA-256 fingerprint %s\n", cfg->tls_cert.c_str(),
           (*server)->tls_fingerprint().c_str());
  fflush(stdout);
  g_server = server->get();
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  (*server)->run();
  g_server = nullptr;
  return 0;
}

int keygen(const Args& a) {
  std::string prefix = need(a, "out");
  auto key = crypto::ed25519_generate();
  if (!key) return die(key.error().str());
  if (auto r = crypto::save_private_pem(key->get(), prefix + ".key"); !r)
    return die(r.error().str());
  if (auto r = crypto::save_public_pem(key->get(), prefix + ".pub"); !r)
    return die(r.error().str());
  printf("%s\n", crypto::b64url(crypto::ed25519_raw_public(key->get()).value()).c_str());
  return 0;
}

int measure(const Args& a) {
  auto m = attest::measure_bundle(need(a, "bundle"));
  if (!m) return die(m.error().str());
  printf("%s\n", crypto::hex(*m).c_str());
  return 0;
}

int print_reply(const kbs::HttpReply& r) {
  if (r.status == 0) return die("cannot reach the KBS");
  printf("%s\n", r.body.c_str());
  return r.status == 200 ? 0 : die("HTTP " + std::to_string(r.status));
}

int admin(const Args& a) {
  kbs::Client client({need(a, "url"), a.opts.contains("ca") ? a.opts.at("ca") : ""});
  auto key = crypto::load_private_pem(need(a, "key"));
  if (!key) return die(key.error().str());
  auto token = kbs::admin_token(key->get());
  if (!token) return die(token.error().str());
  if (a.pos.empty()) return die("admin: missing command\n" + std::string(kUsage));
  const std::string& cmd = a.pos[0];
  auto arg = [&](size_t i) {
    if (a.pos.size() <= i) {
      fprintf(stderr, "veil-kbs: admin %s: missing argument\n", cmd.c_str());
      exit(2);
    }
    return a.pos[i];
  };
  if (cmd == "set-resource") {
    auto data = read_file(arg(2));
    if (!data) return die(data.error().str());
    return print_reply(
        client.post("/kbs/v0/resource/" + arg(1), *data, "", *token, "application/octet-stream"));
  }
  if (cmd == "get-policy") return print_reply(client.get("/kbs/v0/resource-policy", "", *token));
  if (cmd == "set-policy") {
    auto text = read_file(arg(1));
    if (!text) return die(text.error().str());
    return print_reply(client.post("/kbs/v0/resource-policy", *text, "", *token, "text/plain"));
  }
  if (cmd == "reference-values")
    return print_reply(client.get("/kbs/v0/reference-values", "", *token));
  if (cmd == "add-reference" || cmd == "remove-reference") {
    json body = {{cmd == "add-reference" ? "add" : "remove", json::array({arg(1)})}};
    return print_reply(client.post("/kbs/v0/reference-values", body.dump(), "", *token));
  }
  if (cmd == "enroll-ak") {
    auto pem = read_file(arg(1));
    if (!pem) return die(pem.error().str());
    return print_reply(client.post("/kbs/v0/tpm-aks", *pem, "", *token, "text/plain"));
  }
  if (cmd == "tpm-aks") return print_reply(client.get("/kbs/v0/tpm-aks", "", *token));
  if (cmd == "audit")
    return print_reply(
        client.get("/kbs/v0/audit?limit=" + (a.pos.size() > 1 ? a.pos[1] : "50"), "", *token));
  return die("admin: unknown command '" + cmd + "'");
}

int tpm_ak(const Args& a) {
  auto tpm = attest::TpmAttester::open(need(a, "tcti"));
  if (!tpm) return die(tpm.error().str());
  auto pem = (*tpm)->ak_public_pem();
  if (!pem) return die(pem.error().str());
  fputs(pem->c_str(), stdout);
  return 0;
}

Result<std::unique_ptr<attest::Attester>> make_attester(const Args& a) {
  if (a.opts.contains("tpm")) {
    auto m = VEIL_TRY(attest::measure_bundle(need(a, "bundle")));
    std::string log = a.opts.contains("tpm-log") ? a.opts.at("tpm-log") : "/run/veil/tpm-pcr23.log";
    if (auto slash = log.rfind('/'); slash != std::string::npos && slash > 0)
      VEIL_CHECK(mkdir_all(log.substr(0, slash), 0700));
    auto tpm = VEIL_TRY(attest::TpmAttester::open(a.opts.at("tpm"), log));
    VEIL_CHECK(tpm->extend(m));
    fprintf(stderr, "veil-kbs: extended PCR 23 with measurement %s\n", crypto::hex(m).c_str());
    return std::unique_ptr<attest::Attester>(std::move(tpm));
  }
  fprintf(stderr, "veil-kbs: WARNING: using the INSECURE sample attester\n");
  auto skey = VEIL_TRY(crypto::load_private_pem(need(a, "sample-key")));
  int64_t svn = a.opts.contains("svn") ? std::stoll(a.opts.at("svn")) : 1;
  return std::unique_ptr<attest::Attester>(
      new attest::SampleAttester(std::move(skey), need(a, "measurement"), svn));
}

int get_resource(const Args& a) {
  auto attester = make_attester(a);
  if (!attester) return die(attester.error().str());
  auto tee_key = a.flags.contains("--ec") ? jose::generate_p256() : jose::generate_rsa(2048);
  if (!tee_key) return die(tee_key.error().str());
  kbs::Client client({need(a, "url"), a.opts.contains("ca") ? a.opts.at("ca") : ""});
  if (auto t = client.attest(**attester, tee_key->get()); !t) return die(t.error().str());
  auto data = client.get_resource(need(a, "path"), tee_key->get());
  if (!data) return die(data.error().str());
  fwrite(data->data(), 1, data->size(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fputs(kUsage, stderr);
    return 2;
  }
  std::string cmd = argv[1];
  Args a = parse(argc, argv, 2);
  if (cmd == "serve") return serve(a);
  if (cmd == "keygen") return keygen(a);
  if (cmd == "measure") return measure(a);
  if (cmd == "admin") return admin(a);
  if (cmd == "get-resource") return get_resource(a);
  if (cmd == "tpm-ak") return tpm_ak(a);
  if (cmd == "verify") {
    auto opt = [&](const char* k) { return a.opts.contains(k) ? a.opts.at(k) : std::string(); };
    return kbs::cli::verify({need(a, "tee"), need(a, "evidence"), opt("report-data"),
                             opt("collateral"), opt("at"), opt("trusted-key"), opt("ak")});
  }
  fputs(kUsage, stderr);
  return 2;
}
