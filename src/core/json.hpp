// JSON on jansson: an owning document plus typed, path-aware accessors. Every Parse error names the JSON
// path of the offending field (e.g. "data[2].results[0].amount.value"). Numbers that are not plain
// integers keep the exact text they were sent with, so money never passes through a double.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/errors.hpp"
#include "core/records.hpp"

struct json_t;

namespace aispend::core {

// Where a document came from, for error messages.
struct JsonSource {
    std::string provider;
    std::string endpoint;  // url_for_messages() of the request
    long http_status = 0;
};

// Bounds of one parse. The document tree lives in an arena that refuses to grow past max_parse_bytes (the
// copy made to keep exact number text counts too), so a page of many tiny values fails with BodyTooLarge
// instead of taking the process to gigabytes; should_cancel is polled every MiB of input (Cancelled).
struct ParseLimits {
    size_t max_parse_bytes = size_t{512} << 20;
    std::function<bool()> should_cancel;
};

[[noreturn]] void throw_parse_error(const JsonSource &source, std::string detail);

class JsonDoc;
class JsonArena;

// A value inside a JsonDoc, remembered with its container so errors can name its path. Cheap to copy;
// valid while its document lives.
class JsonRef {
  public:
    bool is_null() const;
    bool is_object() const;

    // Object members. `at` fails when the member is missing (null is allowed); `find` gives nullopt when the
    // member is missing or null. The typed getters fail on a missing member or a wrong type; the opt_
    // variants give nullopt for missing or null and fail on a wrong type.
    JsonRef at(const char *key) const;
    std::optional<JsonRef> find(const char *key) const;
    std::string str(const char *key) const { return at(key).as_str(); }
    OptStr opt_str(const char *key) const;
    int64_t integer(const char *key) const { return at(key).as_int(); }
    OptInt opt_int(const char *key) const;
    bool boolean(const char *key) const { return at(key).as_bool(); }
    std::optional<bool> opt_bool(const char *key) const;
    std::string decimal(const char *key) const { return at(key).as_decimal(); }
    OptStr opt_decimal(const char *key) const;
    // Counts (tokens, requests): integers that must not be negative.
    int64_t count(const char *key) const { return at(key).as_count(); }
    OptInt opt_count(const char *key) const;
    // Unix seconds, within years 0001 to 9999 (what PostgreSQL's timestamptz and RFC 3339 both hold).
    UnixSeconds unix_time(const char *key) const { return at(key).as_unix_time(); }
    std::optional<UnixSeconds> opt_unix_time(const char *key) const;

    // This value, which must have the named type.
    std::string as_str() const;
    std::string_view as_str_view() const;
    int64_t as_int() const;
    int64_t as_count() const;
    UnixSeconds as_unix_time() const;
    bool as_bool() const;
    std::string as_decimal() const;  // integer or exact number text, exponent folded
    size_t size() const;             // array length (fails unless an array)
    JsonRef operator[](size_t index) const;

    std::string path() const;
    [[noreturn]] void fail(const std::string &what) const;  // "<path>: <what>"

  private:
    friend class JsonDoc;
    JsonRef(const JsonDoc *doc, json_t *node, json_t *parent, const char *key, size_t index)
        : doc_(doc), node_(node), parent_(parent), key_(key), index_(index) {}
    [[noreturn]] void fail_type(const char *expected) const;
    [[noreturn]] void fail_missing(const char *key) const;

    const JsonDoc *doc_;
    json_t *node_;
    json_t *parent_;   // container holding node_ (nullptr for the root); json null/true/false are shared
    const char *key_;  // member name in parent_, or nullptr when parent_ is an array
    size_t index_;
};

// Owns a parsed document (json_decref on destruction). The root must be an object.
class JsonDoc {
  public:
    // Throws ProviderError: Parse, BodyTooLarge (over limits.max_parse_bytes) or Cancelled.
    JsonDoc(std::string_view text, JsonSource source, const ParseLimits &limits = {});
    ~JsonDoc();
    JsonDoc(JsonDoc &&other) noexcept;
    JsonDoc(const JsonDoc &) = delete;
    JsonDoc &operator=(const JsonDoc &) = delete;
    JsonDoc &operator=(JsonDoc &&) = delete;

    JsonRef root() const { return JsonRef(this, root_, nullptr, nullptr, 0); }
    const JsonSource &source() const { return source_; }
    std::string path_of(json_t *container) const;  // "" for the root

  private:
    std::unique_ptr<JsonArena> arena_;  // holds every node: the tree is dropped with it, never decref'd
    json_t *root_;
    JsonSource source_;
};

}  // namespace aispend::core
