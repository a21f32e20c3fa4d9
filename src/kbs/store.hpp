// Durable KBS state in SQLite (WAL, synchronous=FULL: a call that returned has reached the disk).
// Resources are sealed at rest with AES-256-GCM under a key-encryption key (KEK) read from a file;
// the resource path is the additional authenticated data, so rows cannot be swapped.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/error.hpp"
#include "kbs/jose.hpp"

namespace veil::kbs {

struct AuditEntry {
  int64_t time = 0;
  std::string session, resource, tee, measurement, decision, reason;
  std::string claims;  // the verified claims (JSON text, docs/attestation.md), "" if none
};

class Store {
 public:
  // Opens (creating if needed) the database and reads the 32-byte KEK from kek_file (creating a
  // random one with mode 0600 if the file does not exist).
  static Result<std::unique_ptr<Store>> open(const std::string& db_path,
                                             const std::string& kek_file);
  ~Store();

  Result<> put_resource(const std::string& path, std::string_view data);
  // nullopt: unknown resource.
  Result<std::optional<std::string>> get_resource(const std::string& path);
  Result<std::vector<std::string>> list_resources();

  Result<> set_setting(const std::string& name, const std::string& value);
  Result<std::optional<std::string>> setting(const std::string& name);

  Result<> add_reference_value(const std::string& measurement_hex, const std::string& note);
  Result<> remove_reference_value(const std::string& measurement_hex);
  Result<bool> has_reference_value(const std::string& measurement_hex);
  Result<std::vector<std::string>> reference_values();

  // Enrolled TPM attestation keys (PEM public keys).
  Result<> add_tpm_ak(const std::string& pem);
  Result<std::vector<std::string>> tpm_aks();

  // Returns once the entry is durable. Concurrent callers share one commit (group commit).
  Result<> audit(const AuditEntry& e);
  Result<std::vector<AuditEntry>> recent_audit(int limit);
  bool has_column(const std::string& table, const std::string& column);

 private:
  struct Pending {
    const AuditEntry* entry;
    bool done = false, ok = false;
  };
  Store(sqlite3* db, sqlite3* audit_db, std::string kek);
  Result<> exec(const char* sql, sqlite3* db = nullptr);
  void audit_writer();
  Result<> write_batch(const std::vector<Pending*>& batch);
  sqlite3* db_;
  sqlite3* audit_db_;  // used only by the audit writer thread, so reads never wait for its fsync
  std::string kek_;
  std::mutex mu_;   // the connection
  std::mutex qmu_;  // the audit queue
  std::condition_variable queued_, committed_;
  std::deque<Pending*> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace veil::kbs
