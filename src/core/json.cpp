#include "core/json.hpp"

#include <jansson.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "core/decimal.hpp"

namespace aispend::core {

namespace {

// Non-integer numbers (and integers too long for int64) are rewritten before jansson sees them into strings
// tagged with a leading NUL, so their exact text survives; genuine NULs are rejected up front (PostgreSQL
// text cannot hold them anyway), so a tagged string is always one of ours.
constexpr char kNumberTag = '\0';
constexpr size_t kMaxPlainIntegerDigits = 18;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Length of a JSON number token at text[i] (0 if the grammar does not match).
size_t number_length(std::string_view text, size_t i) {
    size_t p = i;
    if (p < text.size() && text[p] == '-') ++p;
    if (p >= text.size() || !is_digit(text[p])) return 0;
    if (text[p] == '0') {
        ++p;
    } else {
        while (p < text.size() && is_digit(text[p])) ++p;
    }
    if (p < text.size() && text[p] == '.') {
        size_t start = ++p;
        while (p < text.size() && is_digit(text[p])) ++p;
        if (p == start) return 0;
    }
    if (p < text.size() && (text[p] == 'e' || text[p] == 'E')) {
        ++p;
        if (p < text.size() && (text[p] == '+' || text[p] == '-')) ++p;
        size_t start = p;
        while (p < text.size() && is_digit(text[p])) ++p;
        if (p == start) return 0;
    }
    return p - i;
}

bool needs_tag(std::string_view number) {
    if (number.find_first_of(".eE") != std::string_view::npos) return true;
    size_t digits = number.size() - (number[0] == '-' ? 1 : 0);
    return digits > kMaxPlainIntegerDigits;
}

// Returns the text to hand to jansson: `text` itself when nothing needs tagging, else a rewritten copy in
// `out`. Malformed input is left alone for jansson to report.
std::string_view tag_numbers(std::string_view text, std::string &out, const JsonSource &source) {
    std::vector<bool> in_array;  // container stack: true for '[', false for '{'
    char prev = 0;               // previous significant character outside strings
    size_t copied = 0;
    const size_t n = text.size();
    for (size_t i = 0; i < n;) {
        char c = text[i];
        if (c == '"') {
            for (++i; i < n && text[i] != '"'; ++i) {
                if (text[i] != '\\') continue;
                if (i + 5 < n && text.compare(i + 1, 5, "u0000") == 0) {
                    throw_parse_error(source,
                                      "invalid JSON: string contains \\u0000 at byte " + std::to_string(i));
                }
                ++i;
            }
            ++i;
            prev = '"';
        } else if (c == '-' || is_digit(c)) {
            size_t len = number_length(text, i);
            if (len == 0) return text;
            std::string_view number = text.substr(i, len);
            bool value_expected =
                prev == ':' || prev == '[' || (prev == ',' && !in_array.empty() && in_array.back());
            if (value_expected && needs_tag(number)) {
                if (out.empty()) out.reserve(n + n / 8);
                out.append(text, copied, i - copied);
                out.append("\"\\u0000").append(number).push_back('"');
                copied = i + len;
            }
            i += len;
            prev = '0';
        } else {
            if (c == '[' || c == '{') {
                in_array.push_back(c == '[');
            } else if ((c == ']' || c == '}') && !in_array.empty()) {
                in_array.pop_back();
            }
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') prev = c;
            ++i;
        }
    }
    if (copied == 0) return text;
    out.append(text, copied, std::string_view::npos);
    return out;
}

bool is_tagged_number(const json_t *v) {
    return json_is_string(v) && json_string_length(v) > 0 && json_string_value(v)[0] == kNumberTag;
}

std::string_view tagged_text(const json_t *v) {
    return std::string_view(json_string_value(v) + 1, json_string_length(v) - 1);
}

const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
        case JSON_OBJECT:
            return "object";
        case JSON_ARRAY:
            return "array";
        case JSON_STRING:
            return is_tagged_number(v) ? "number" : "string";
        case JSON_INTEGER:
            return "integer";
        case JSON_REAL:
            return "number";
        case JSON_TRUE:
        case JSON_FALSE:
            return "boolean";
        case JSON_NULL:
            return "null";
    }
    return "unknown";
}

std::string join(const std::string &base, const char *key) {
    return base.empty() ? key : base + "." + key;
}

// Depth-first search for a container by identity, building its path on the way back.
bool find_path(json_t *node, json_t *target, std::string &path) {
    if (node == target) return true;
    if (json_is_object(node)) {
        const char *key;
        json_t *child;
        json_object_foreach(node, key, child) {
            if (!json_is_object(child) && !json_is_array(child)) continue;
            std::string sub;
            if (find_path(child, target, sub)) {
                path = sub.empty() ? key : (sub[0] == '[' ? key + sub : std::string(key) + "." + sub);
                return true;
            }
        }
    } else if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); ++i) {
            std::string sub;
            if (find_path(json_array_get(node, i), target, sub)) {
                path = "[" + std::to_string(i) + "]" + (sub.empty() || sub[0] == '[' ? sub : "." + sub);
                return true;
            }
        }
    }
    return false;
}

}  // namespace

// Bump allocator for one document. Freeing a parsed page node by node cost a third of the parse time
// (glibc malloc_consolidate), and a document is only ever dropped whole.
class JsonArena {
  public:
    // The tree takes a few times the text; small documents get small chunks.
    explicit JsonArena(size_t text_size) : chunk_(std::clamp(text_size * 2, size_t{16} << 10, kMaxChunk)) {}

    void *allocate(size_t n) {
        n = (n + kAlign - 1) & ~(kAlign - 1);
        if (chunks_.empty() || used_ + n > chunk_size_) {
            chunk_size_ = std::max(n, chunk_);
            chunks_.emplace_back(new char[chunk_size_]);
            used_ = 0;
        }
        void *p = chunks_.back().get() + used_;
        used_ += n;
        return p;
    }

  private:
    static constexpr size_t kAlign = alignof(std::max_align_t);
    // At most 1 MiB: after the first free glibc serves such chunks from its heap, not fresh (page-faulting)
    // mmaps.
    static constexpr size_t kMaxChunk = 1 << 20;
    const size_t chunk_;
    std::vector<std::unique_ptr<char[]>> chunks_;
    size_t chunk_size_ = 0;
    size_t used_ = 0;
};

namespace {

// jansson's allocator hooks are process-wide: outside our parse they are plain malloc/free, so blocks of any
// other jansson user are unaffected. While an arena is active (only inside json_loadb) every free is of a
// block that parse allocated, so it is a no-op.
thread_local JsonArena *active_arena = nullptr;

void *hook_malloc(size_t n) {
    return active_arena ? active_arena->allocate(n) : std::malloc(n);
}

void hook_free(void *p) {
    if (active_arena == nullptr) std::free(p);
}

// True when our hooks are jansson's allocator (installed on first use; someone else may have replaced them).
bool arena_hooks_installed() {
    static const bool installed = (json_set_alloc_funcs(hook_malloc, hook_free), true);
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    return installed && m == hook_malloc && f == hook_free;
}

json_t *load(std::string_view input, JsonArena *arena, json_error_t *error) {
    active_arena = arena;
    json_t *root = json_loadb(input.data(), input.size(), JSON_ALLOW_NUL, error);
    active_arena = nullptr;
    return root;
}

}  // namespace

void throw_parse_error(const JsonSource &source, std::string detail) {
    ProviderError::Details d;
    d.kind = ProviderError::Kind::Parse;
    d.provider = source.provider;
    d.endpoint = source.endpoint;
    d.http_status = source.http_status;
    d.detail = std::move(detail);
    throw ProviderError(std::move(d));
}

JsonDoc::JsonDoc(std::string_view text, JsonSource source) : root_(nullptr), source_(std::move(source)) {
    std::string rewritten;
    std::string_view input = tag_numbers(text, rewritten, source_);
    if (arena_hooks_installed()) arena_ = std::make_unique<JsonArena>(input.size());
    json_error_t error;
    root_ = load(input, arena_.get(), &error);
    if (root_ == nullptr) {
        throw_parse_error(source_, "invalid JSON at line " + std::to_string(error.line) + " column " +
                                       std::to_string(error.column) + ": " + error.text);
    }
    if (!json_is_object(root_)) {
        if (!arena_) json_decref(root_);
        throw_parse_error(source_, "invalid JSON: the top level is not an object");
    }
}

JsonDoc::~JsonDoc() {
    if (root_ != nullptr && !arena_) json_decref(root_);
}

JsonDoc::JsonDoc(JsonDoc &&other) noexcept
    : arena_(std::move(other.arena_)), root_(other.root_), source_(std::move(other.source_)) {
    other.root_ = nullptr;
}

std::string JsonDoc::path_of(json_t *container) const {
    std::string path;
    find_path(root_, container, path);
    return path;
}

std::string JsonRef::path() const {
    if (parent_ == nullptr) return "";
    std::string base = doc_->path_of(parent_);
    if (key_ != nullptr) return join(base, key_);
    return base + "[" + std::to_string(index_) + "]";
}

void JsonRef::fail(const std::string &what) const {
    std::string p = path();
    throw_parse_error(doc_->source(), (p.empty() ? "<root>" : p) + ": " + what);
}

void JsonRef::fail_type(const char *expected) const {
    fail(std::string("expected ") + expected + ", got " + type_name(node_));
}

void JsonRef::fail_missing(const char *key) const {
    throw_parse_error(doc_->source(), join(path(), key) + ": missing");
}

bool JsonRef::is_null() const {
    return json_is_null(node_);
}
bool JsonRef::is_object() const {
    return json_is_object(node_);
}

JsonRef JsonRef::at(const char *key) const {
    if (!json_is_object(node_)) fail_type("object");
    json_t *child = json_object_get(node_, key);
    if (child == nullptr) fail_missing(key);
    return JsonRef(doc_, child, node_, key, 0);
}

std::optional<JsonRef> JsonRef::find(const char *key) const {
    if (!json_is_object(node_)) fail_type("object");
    json_t *child = json_object_get(node_, key);
    if (child == nullptr || json_is_null(child)) return std::nullopt;
    return JsonRef(doc_, child, node_, key, 0);
}

OptStr JsonRef::opt_str(const char *key) const {
    auto v = find(key);
    return v ? OptStr(v->as_str()) : std::nullopt;
}

OptInt JsonRef::opt_int(const char *key) const {
    auto v = find(key);
    return v ? OptInt(v->as_int()) : std::nullopt;
}

std::optional<bool> JsonRef::opt_bool(const char *key) const {
    auto v = find(key);
    return v ? std::optional<bool>(v->as_bool()) : std::nullopt;
}

OptStr JsonRef::opt_decimal(const char *key) const {
    auto v = find(key);
    return v ? OptStr(v->as_decimal()) : std::nullopt;
}

std::string_view JsonRef::as_str_view() const {
    if (!json_is_string(node_) || is_tagged_number(node_)) fail_type("string");
    return std::string_view(json_string_value(node_), json_string_length(node_));
}

std::string JsonRef::as_str() const {
    return std::string(as_str_view());
}

int64_t JsonRef::as_int() const {
    if (json_is_integer(node_)) return json_integer_value(node_);
    if (is_tagged_number(node_)) {
        std::string text(tagged_text(node_));
        if (text.find_first_of(".eE") == std::string::npos) {
            errno = 0;
            long long v = std::strtoll(text.c_str(), nullptr, 10);
            if (errno == 0) return v;
            fail("integer out of range");
        }
    }
    fail_type("integer");
}

bool JsonRef::as_bool() const {
    if (!json_is_boolean(node_)) fail_type("boolean");
    return json_is_true(node_);
}

std::string JsonRef::as_decimal() const {
    if (json_is_integer(node_)) return std::to_string(json_integer_value(node_));
    if (!is_tagged_number(node_)) fail_type("number");
    try {
        return plain_decimal(tagged_text(node_));
    } catch (const std::invalid_argument &e) {
        fail(e.what());
    }
}

size_t JsonRef::size() const {
    if (!json_is_array(node_)) fail_type("array");
    return json_array_size(node_);
}

JsonRef JsonRef::operator[](size_t index) const {
    if (index >= size()) fail("index " + std::to_string(index) + " out of range");
    return JsonRef(doc_, json_array_get(node_, index), node_, nullptr, index);
}

}  // namespace aispend::core
