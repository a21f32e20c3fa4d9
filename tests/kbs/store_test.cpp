// The KBS store on its own: an audit log written by an older veil-kbs (no claims column) is
// upgraded in place and keeps its rows.
#include "kbs/store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include "base/file.hpp"

using namespace veil;

TEST(KbsStore, AuditLogFromBeforeClaimsIsUpgraded) {
  char tmpl[] = "/tmp/veil-store-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string db_path = dir + "/kbs.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE audit(id INTEGER PRIMARY KEY, time INTEGER, session TEXT,"
                         " resource TEXT, tee TEXT, measurement TEXT, decision TEXT, reason TEXT);"
                         "INSERT INTO audit(time,session,resource,tee,measurement,decision,reason)"
                         " VALUES(1,'s','a/b/c','tpm','ab','allow','old row');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  {
    auto store = kbs::Store::open(db_path, dir + "/kek");
    ASSERT_TRUE(store) << store.error().str();
    ASSERT_TRUE((*store)->audit({2, "t", "a/b/c", "snp", "cd", "deny", "new row",
                                 R"({"tee":"snp","details":{"reported_tcb.snp":8}})"}));
    auto rows = (*store)->recent_audit(10).value();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].reason, "new row");
    EXPECT_NE(rows[0].claims.find("reported_tcb.snp"), std::string::npos);
    EXPECT_EQ(rows[1].reason, "old row");
    EXPECT_EQ(rows[1].claims, "");
  }
  // Opening the upgraded database again does not try to add the column twice.
  auto again = kbs::Store::open(db_path, dir + "/kek");
  ASSERT_TRUE(again) << again.error().str();
  EXPECT_EQ((*again)->recent_audit(10).value().size(), 2u);
  again->reset();
  (void)remove_all(dir);
}
