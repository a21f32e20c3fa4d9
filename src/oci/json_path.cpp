#include "oci/json_path.hpp"

#include <cctype>

namespace veil::oci {

using nlohmann::json;

std::string json_type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number";
    default:
      return v.type_name();
  }
}

// Keys that read well after a dot stay as they are; others are quoted: annotations["a.b"].
static bool plain_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

JsonAt JsonAt::operator[](std::string_view key) const {
  std::string p = path_;
  if (plain_key(key)) {
    if (!p.empty()) p += '.';
    p += key;
  } else {
    p += '[' + json(std::string(key)).dump() + ']';
  }
  const json* child = nullptr;
  if (present() && v_->is_object()) {
    auto it = v_->find(key);
    if (it != v_->end()) child = &*it;
  }
  return JsonAt(child, std::move(p));
}

JsonAt JsonAt::operator[](size_t i) const {
  const json* child = present() && v_->is_array() && i < v_->size() ? &(*v_)[i] : nullptr;
  return JsonAt(child, path_ + '[' + std::to_string(i) + ']');
}

std::vector<std::pair<std::string, JsonAt>> JsonAt::items() const {
  std::vector<std::pair<std::string, JsonAt>> out;
  if (!present() || !v_->is_object()) return out;
  for (auto it = v_->begin(); it != v_->end(); ++it) out.emplace_back(it.key(), (*this)[it.key()]);
  return out;
}

std::unexpected<Error> JsonAt::fail(std::string_view msg) const {
  return veil::fail(where() + ": " + std::string(msg));
}

std::unexpected<Error> JsonAt::type_error(std::string_view what) const {
  return fail("expected " + std::string(what) + ", got " +
              (v_ ? json_type_name(*v_) : std::string("nothing")));
}

std::unexpected<Error> JsonAt::integer_error(std::string_view what) const {
  if (v_->is_number_integer() || v_->is_number_unsigned())
    return fail("expected " + std::string(what) + ", got " + v_->dump() + " (out of range)");
  if (v_->is_number_float())
    return fail("expected " + std::string(what) + ", got non-integer number " + v_->dump());
  return type_error(what);
}

Result<> JsonAt::object() const {
  if (!v_) return fail("is required");
  if (!v_->is_object()) return type_error("an object");
  return {};
}

Result<size_t> JsonAt::array() const {
  if (!v_) return fail("is required");
  if (!v_->is_array()) return type_error("an array");
  return v_->size();
}

Result<std::string> JsonAt::string() const {
  if (!v_) return fail("is required");
  if (!v_->is_string()) return type_error("a string");
  const auto& s = v_->get_ref<const std::string&>();
  if (s.find('\0') != std::string::npos) return fail("must not contain a NUL byte");
  return s;
}

Result<std::string> JsonAt::abs_path() const {
  auto s = string();
  if (s && !s->starts_with('/')) return fail("must be an absolute path, got " + json_quote(*s));
  return s;
}

Result<bool> JsonAt::boolean() const {
  if (!v_) return fail("is required");
  if (!v_->is_boolean()) return type_error("a boolean");
  return v_->get<bool>();
}

Result<std::vector<std::string>> JsonAt::strings() const {
  size_t n = VEIL_TRY(array());
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(VEIL_TRY((*this)[i].string()));
  return out;
}

Result<std::map<std::string, std::string>> JsonAt::string_map() const {
  VEIL_CHECK(object());
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : items()) {
    out.emplace(key, VEIL_TRY(value.string()));
  }
  return out;
}

}  // namespace veil::oci
