// The SEV-SNP certificate table parser (configfs-tsm auxblob, SNP_GET_EXT_REPORT's buffer), on
// tables built here: well-formed ones and the malformed shapes a host could hand the guest.
#include <gtest/gtest.h>

#include <cstring>

#include "attest/tsm/cert_table.hpp"

namespace {

using namespace veil::attest::tsm;

std::vector<CertEntry> three() {
  return {{kVcekGuid, std::string(100, 'v')},
          {kAskGuid, std::string(50, 's')},
          {kArkGuid, std::string(70, 'r')}};
}

void set_le32(std::string& t, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) t[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

void expect_error(const std::string& table, const std::string& want) {
  auto r = parse_cert_table(table);
  ASSERT_FALSE(r) << want;
  EXPECT_NE(r.error().msg.find(want), std::string::npos) << r.error().msg;
  EXPECT_EQ(r.error().msg.rfind("certificate table: ", 0), 0u) << r.error().msg;
}

TEST(TsmCertTable, VcekAskArkAndTerminator) {
  std::string t = build_cert_table(three(), 4096);  // padded to a page, as the kernel hands it
  ASSERT_EQ(t.size(), 4096u);
  // GUIDs are stored in the byte order of their text form.
  EXPECT_EQ(static_cast<uint8_t>(t[0]), 0x63);
  EXPECT_EQ(static_cast<uint8_t>(t[1]), 0xda);
  EXPECT_EQ(static_cast<uint8_t>(t[15]), 0xcd);
  // First certificate right after the four entries (three and the terminator).
  EXPECT_EQ(static_cast<uint8_t>(t[16]), 96);
  EXPECT_EQ(static_cast<uint8_t>(t[20]), 100);
  EXPECT_EQ(t.substr(72, 24), std::string(24, '\0'));
  auto r = parse_cert_table(t);
  ASSERT_TRUE(r) << r.error().str();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].guid, kVcekGuid);
  EXPECT_EQ((*r)[0].der, std::string(100, 'v'));
  EXPECT_EQ((*r)[1].guid, kAskGuid);
  EXPECT_EQ((*r)[1].der, std::string(50, 's'));
  EXPECT_EQ((*r)[2].guid, kArkGuid);
  EXPECT_EQ((*r)[2].der, std::string(70, 'r'));
}

TEST(TsmCertTable, OnlyTerminatorIsNoCertificates) {
  auto r = parse_cert_table(std::string(4096, '\0'));  // what a host without certificates leaves
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_TRUE(r->empty());
}

TEST(TsmCertTable, GuidText) {
  auto b = guid_bytes(kVlekGuid);
  ASSERT_TRUE(b);
  EXPECT_EQ(guid_text(*b), kVlekGuid);
  EXPECT_FALSE(guid_bytes("a8074bc2a25a483eaae639c045a0b8a1"));
  EXPECT_FALSE(guid_bytes("zz074bc2-a25a-483e-aae6-39c045a0b8a1"));
}

TEST(TsmCertTable, MissingTerminator) {
  std::string t = build_cert_table(three());
  expect_error(t.substr(0, 3 * kCertEntrySize), "no terminator entry");
  expect_error(t.substr(0, 3 * kCertEntrySize + 10), "no terminator entry");
  expect_error("", "no terminator entry");
}

TEST(TsmCertTable, OutOfBounds) {
  std::string t = build_cert_table(three());
  std::string longer = t;
  set_le32(longer, 2 * kCertEntrySize + 20, 71);  // ARK one byte longer than the buffer
  expect_error(longer, "past the end");
  std::string far = t;
  set_le32(far, 16, 0xfffffff0);  // offset near 4 GiB: no 32-bit wrap-around
  expect_error(far, "past the end");
}

TEST(TsmCertTable, Overlaps) {
  std::string t = build_cert_table(three());
  std::string on_table = t;
  set_le32(on_table, 16, 0);  // VCEK "inside" the entries
  expect_error(on_table, "overlaps the entries");
  std::string on_other = t;
  set_le32(on_other, kCertEntrySize + 16, 96 + 50);  // ASK inside VCEK's bytes
  expect_error(on_other, "overlaps entry 0");
}

TEST(TsmCertTable, EmptyDuplicateAndBadTerminator) {
  std::string t = build_cert_table(three());
  std::string empty = t;
  set_le32(empty, 20, 0);
  expect_error(empty, "empty certificate");
  expect_error(build_cert_table({{kVcekGuid, "a"}, {kVcekGuid, "b"}}), "listed twice");
  std::string bad_end = t;
  set_le32(bad_end, 3 * kCertEntrySize + 16, 5);
  expect_error(bad_end, "zero GUID but an offset or length");
}

}  // namespace
