#include "kbs/store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "attest/crypto.hpp"
#include "base/fd.hpp"
#include "base/file.hpp"

namespace veil::kbs {

namespace {

// One prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); }
  ~Stmt() { sqlite3_finalize(st_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& text(int i, std::string_view s) {
    sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& blob(int i, std::string_view s) {
    sqlite3_bind_blob(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& integer(int i, int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(st_); }
  std::string col(int i) {
    auto* p = static_cast<const char*>(sqlite3_column_blob(st_, i));
    return std::string(p ? p : "", sqlite3_column_bytes(st_, i));
  }
  int64_t col_int(int i) { return sqlite3_column_int64(st_, i); }

 private:
  sqlite3_stmt* st_ = nullptr;
  int rc_;
};

Result<std::string> load_or_create_kek(const std::string& path) {
  if (!path_exists(path)) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return fail_errno("create KEK file " + path);
    auto k = crypto::random_bytes(32);
    if (write(fd.get(), k.data(), k.size()) != 32 || fsync(fd.get()) != 0)
      return fail_errno("write KEK file " + path);
  }
  auto kek = VEIL_TRY(read_file(path));
  if (kek.size() != 32) return fail(path + ": KEK file must hold exactly 32 bytes");
  return kek;
}

}  // namespace

#define DB_FAIL(what) fail(std::string(what) + ": " + sqlite3_errmsg(db_))

Result<std::unique_ptr<Store>> Store::open(const std::string& db_path,
                                           const std::string& kek_file) {
  auto kek = VEIL_TRY(load_or_create_kek(kek_file));
  sqlite3* dbs[2] = {nullptr, nullptr};
  for (auto*& db : dbs) {
    if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        nullptr) != SQLITE_OK) {
      std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
      sqlite3_close(dbs[0]);
      sqlite3_close(dbs[1]);
      return fail("open database " + db_path + ": " + msg);
    }
    sqlite3_busy_timeout(db, 5000);
  }
  std::unique_ptr<Store> s(new Store(dbs[0], dbs[1], std::move(kek)));
  VEIL_CHECK(s->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"));
  VEIL_CHECK(s->exec("PRAGMA synchronous=FULL;", s->audit_db_));
  VEIL_CHECK(s->exec(
      "CREATE TABLE IF NOT EXISTS resources(path TEXT PRIMARY KEY, iv BLOB, ct BLOB, tag BLOB,"
      " updated INTEGER);"
      "CREATE TABLE IF NOT EXISTS settings(name TEXT PRIMARY KEY, value TEXT);"
      "CREATE TABLE IF NOT EXISTS reference_values(measurement TEXT PRIMARY KEY, note TEXT);"
      "CREATE TABLE IF NOT EXISTS tpm_aks(pem TEXT PRIMARY KEY, added INTEGER);"
      "CREATE TABLE IF NOT EXISTS audit(id INTEGER PRIMARY KEY, time INTEGER, session TEXT,"
      " resource TEXT, tee TEXT, measurement TEXT, decision TEXT, reason TEXT);"));
  // Databases from before the claims column get it (older rows hold NULL, read back as "").
  if (!s->has_column("audit", "claims"))
    VEIL_CHECK(s->exec("ALTER TABLE audit ADD COLUMN claims TEXT;"));
  return s;
}

Store::Store(sqlite3* db, sqlite3* audit_db, std::string kek)
    : db_(db), audit_db_(audit_db), kek_(std::move(kek)) {
  writer_ = std::thread([this] { audit_writer(); });
}

Store::~Store() {
  {
    std::lock_guard lock(qmu_);
    stopping_ = true;
  }
  queued_.notify_all();
  writer_.join();
  sqlite3_close(audit_db_);
  sqlite3_close(db_);
}

Result<> Store::exec(const char* sql, sqlite3* db) {
  char* err = nullptr;
  if (sqlite3_exec(db ? db : db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    return fail(std::string("sqlite: ") + msg);
  }
  return {};
}

Result<> Store::put_resource(const std::string& path, std::string_view data) {
  auto iv = crypto::random_bytes(12);
  crypto::Bytes tag;
  auto ct = VEIL_TRY(crypto::aes256gcm_seal(kek_, iv, path, data, &tag));
  std::lock_guard lock(mu_);
  Stmt st(db_, "INSERT OR REPLACE INTO resources VALUES(?,?,?,?,?)");
  st.text(1, path).blob(2, iv).blob(3, ct).blob(4, tag).integer(5, jose::now_seconds());
  if (!st.ok() || st.step() != SQLITE_DONE) return DB_FAIL("store resource " + path);
  return {};
}

Result<std::optional<std::string>> Store::get_resource(const std::string& path) {
  std::string iv, ct, tag;
  {
    std::lock_guard lock(mu_);
    Stmt st(db_, "SELECT iv, ct, tag FROM resources WHERE path=?");
    st.text(1, path);
    int rc = st.step();
    if (rc == SQLITE_DONE) return std::nullopt;
    if (rc != SQLITE_ROW) return DB_FAIL("read resource " + path);
    iv = st.col(0), ct = st.col(1), tag = st.col(2);
  }
  auto plain = crypto::aes256gcm_open(kek_, iv, path, ct, tag);
  if (!plain) return fail("resource " + path + " fails its integrity check (wrong KEK?)");
  return std::optional<std::string>(std::move(*plain));
}

Result<std::vector<std::string>> Store::list_resources() {
  std::lock_guard lock(mu_);
  Stmt st(db_, "SELECT path FROM resources ORDER BY path");
  std::vector<std::string> out;
  while (st.step() == SQLITE_ROW) out.push_back(st.col(0));
  return out;
}

Result<> Store::set_setting(const std::string& name, const std::string& value) {
  std::lock_guard lock(mu_);
  Stmt st(db_, "INSERT OR REPLACE INTO settings VALUES(?,?)");
  st.text(1, name).text(2, value);
  if (!st.ok() || st.step() != SQLITE_DONE) return DB_FAIL("store setting " + name);
  return {};
}

Result<std::optional<std::string>> Store::setting(const std::string& name) {
  std::lock_guard lock(mu_);
  Stmt st(db_, "SELECT value FROM settings WHERE name=?");
  st.text(1, name);
  int rc = st.step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return DB_FAIL("read setting " + name);
  return std::optional<std::string>(st.col(0));
}

Result<> Store::add_reference_value(const std::string& m, const std::string& note) {
  std::lock_guard lock(mu_);
  Stmt st(db_, "INSERT OR REPLACE INTO reference_values VALUES(?,?)");
  st.text(1, m).text(2, note);
  if (!st.ok() || st.step() != SQLITE_DONE) return DB_FAIL("store reference value");
  return {};
}

Result<> Store::remove_reference_value(const std::string& m) {
  std::lock_guard lock(mu_);
  Stmt st(db_, "DELETE FROM reference_values WHERE measurement=?");
  st.text(1, m);
  if (!st.ok() || st.step() != SQLITE_DONE) return DB_FAIL("delete reference value");
  return {};
}

Result<bool> Store::has_reference_value(const std::string& m) {
  std::lock_guard lock(mu_);
  Stmt st(db_, "SELECT 1 FROM reference_values WHERE measurement=?");
  st.text(1, m);
  int rc = st.step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return DB_FAIL("read reference values");
  return rc == SQLITE_ROW;
}

Result<std::vector<std::string>> Store::reference_values() {
  std::lock_guard lock(mu_);
  Stmt st(db_, "SELECT measurement FROM reference_values ORDER BY measurement");
  std::vector<std::string> out;
  while (st.step() == SQLITE_ROW) out.push_back(st.col(0));
  return out;
}

Result<> Store::add_tpm_ak(const std::string& pem) {
  std::lock_guard lock(mu_);
  Stmt st(db_, "INSERT OR IGNORE INTO tpm_aks VALUES(?,?)");
  st.text(1, pem).integer(2, jose::now_seconds());
  if (!st.ok() || st.step() != SQLITE_DONE) return DB_FAIL("store attestation key");
  return {};
}

Result<std::vector<std::string>> Store::tpm_aks() {
  std::lock_guard lock(mu_);
  Stmt st(db_, "SELECT pem FROM tpm_aks ORDER BY added");
  std::vector<std::string> out;
  while (st.step() == SQLITE_ROW) out.push_back(st.col(0));
  return out;
}

Result<> Store::audit(const AuditEntry& e) {
  Pending p{&e};
  std::unique_lock lock(qmu_);
  queue_.push_back(&p);
  queued_.notify_one();
  committed_.wait(lock, [&] { return p.done; });
  if (!p.ok) return fail("write audit log");
  return {};
}

void Store::audit_writer() {
  std::unique_lock lock(qmu_);
  for (;;) {
    queued_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping
    std::vector<Pending*> batch(queue_.begin(), queue_.end());
    queue_.clear();
    lock.unlock();
    bool ok = write_batch(batch).has_value();
    lock.lock();
    for (auto* p : batch) p->done = true, p->ok = ok;
    committed_.notify_all();
  }
}

Result<> Store::write_batch(const std::vector<Pending*>& batch) {
  VEIL_CHECK(exec("BEGIN IMMEDIATE", audit_db_));
  for (auto* p : batch) {
    const AuditEntry& e = *p->entry;
    Stmt st(audit_db_,
            "INSERT INTO audit(time,session,resource,tee,measurement,decision,reason,claims)"
            " VALUES(?,?,?,?,?,?,?,?)");
    st.integer(1, e.time).text(2, e.session).text(3, e.resource).text(4, e.tee);
    st.text(5, e.measurement).text(6, e.decision).text(7, e.reason).text(8, e.claims);
    if (!st.ok() || st.step() != SQLITE_DONE) {
      std::string msg = sqlite3_errmsg(audit_db_);
      (void)exec("ROLLBACK", audit_db_);
      return fail("write audit: " + msg);
    }
  }
  return exec("COMMIT", audit_db_);
}

Result<std::vector<AuditEntry>> Store::recent_audit(int limit) {
  std::lock_guard lock(mu_);
  Stmt st(db_,
          "SELECT time,session,resource,tee,measurement,decision,reason,claims FROM audit"
          " ORDER BY id DESC LIMIT ?");
  st.integer(1, limit);
  std::vector<AuditEntry> out;
  while (st.step() == SQLITE_ROW)
    out.push_back({st.col_int(0), st.col(1), st.col(2), st.col(3), st.col(4), st.col(5), st.col(6),
                   st.col(7)});
  return out;
}

bool Store::has_column(const std::string& table, const std::string& column) {
  Stmt st(db_, "SELECT 1 FROM pragma_table_info(?) WHERE name = ?");
  st.text(1, table).text(2, column);
  return st.step() == SQLITE_ROW;
}

}  // namespace veil::kbs
