#include "core/json.hpp"

#include <jansson.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
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

// Work between two polls of the cancellation hook: about a millisecond of scanning or parsing.
constexpr size_t kPollBytes = 1u << 20;

[[noreturn]] void throw_limit(const JsonSource &source, ProviderError::Kind kind, std::string detail) {
    ProviderError::Details d;
    d.kind = kind;
    d.provider = source.provider;
    d.endpoint = source.endpoint;
    d.detail = std::move(detail);
    throw ProviderError(std::move(d));
}

[[noreturn]] void throw_over_budget(const JsonSource &source, const ParseLimits &limits) {
    throw_limit(source, ProviderError::Kind::BodyTooLarge,
                "parsing it needs more than " + std::to_string(limits.max_parse_bytes >> 20) +
                    " MiB (aispend.max_parse_mb)");
}

void poll_cancel(const JsonSource &source, const ParseLimits &limits) {
    if (limits.should_cancel && limits.should_cancel())
        throw_limit(source, ProviderError::Kind::Cancelled, "cancelled while parsing");
}

// Returns the text to hand to jansson: `text` itself when nothing needs tagging, else a rewritten copy in
// `out` (which counts against the parse budget). Malformed input is left alone for jansson to report.
std::string_view tag_numbers(std::string_view text, std::string &out, const JsonSource &source,
                             const ParseLimits &limits) {
    std::vector<bool> in_array;  // container stack: true for '[', false for '{'
    char prev = 0;               // previous significant character outside strings
    size_t copied = 0;
    const size_t n = text.size();
    size_t next_poll = kPollBytes;
    for (size_t i = 0; i < n;) {
        if (i >= next_poll) {
            poll_cancel(source, limits);
            if (out.size() > limits.max_parse_bytes) throw_over_budget(source, limits);
            next_poll = i + kPollBytes;
        }
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
    // The tree takes a few times the text; small documents get small chunks. Allocation fails (and so the
    // parse) once `cap` bytes of chunks are taken.
    JsonArena(size_t text_size, size_t cap)
        : chunk_(std::clamp(text_size * 2, size_t{16} << 10, kMaxChunk)), cap_(cap) {}

    void *allocate(size_t n) {
        n = (n + kAlign - 1) & ~(kAlign - 1);
        if (chunks_.empty() || used_ + n > chunk_size_) {
            size_t size = std::max(n, chunk_);
            if (size > cap_ - std::min(cap_, taken_)) {
                exhausted_ = true;
                return nullptr;
            }
            chunk_size_ = size;
            chunks_.emplace_back(new (std::nothrow) char[chunk_size_]);
            if (!chunks_.back()) {
                chunks_.pop_back();
                exhausted_ = true;
                return nullptr;
            }
            taken_ += chunk_size_;
            used_ = 0;
        }
        void *p = chunks_.back().get() + used_;
        used_ += n;
        return p;
    }

    bool exhausted() const { return exhausted_; }

  private:
    static constexpr size_t kAlign = alignof(std::max_align_t);
    // At most 1 MiB: after the first free glibc serves such chunks from its heap, not fresh (page-faulting)
    // mmaps.
    static constexpr size_t kMaxChunk = 1 << 20;
    const size_t chunk_;
    const size_t cap_;
    std::vector<std::unique_ptr<char[]>> chunks_;
    size_t chunk_size_ = 0;
    size_t used_ = 0;
    size_t taken_ = 0;
    bool exhausted_ = false;
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

// Feeds jansson the input piece by piece, polling the cancellation hook every kPollBytes.
struct Feed {
    std::string_view input;
    size_t offset = 0;
    size_t next_poll = kPollBytes;
    const ParseLimits *limits;
    bool cancelled = false;
};

size_t feed(void *buffer, size_t size, void *data) {
    auto *f = static_cast<Feed *>(data);
    if (f->offset >= f->next_poll) {
        f->next_poll = f->offset + kPollBytes;
        if (f->limits->should_cancel && f->limits->should_cancel()) {
            f->cancelled = true;
            return static_cast<size_t>(-1);
        }
    }
    size_t n = std::min(size, f->input.size() - f->offset);
    std::memcpy(buffer, f->input.data() + f->offset, n);
    f->offset += n;
    return n;
}

json_t *load(Feed &input, JsonArena *arena, json_error_t *error) {
    active_arena = arena;
    json_t *root = json_load_callback(feed, &input, JSON_ALLOW_NUL, error);
    active_arena = nullptr;
    return root;
}

// jansson's message without the "near '<token>'" part: the token is text of the body, which may be
// anything (a banner of whatever answered, bytes that are not UTF-8).
std::string without_token(const char *text) {
    std::string message(text);
    size_t near = message.find(" near ");
    return near == std::string::npos ? message : message.substr(0, near);
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

JsonDoc::JsonDoc(std::string_view text, JsonSource source, const ParseLimits &limits)
    : root_(nullptr), source_(std::move(source)) {
    if (!arena_hooks_installed())
        throw_parse_error(source_,
                          "the JSON library's allocator was replaced by other code; aispend parses only "
                          "with its own, which bounds the memory a response may take");
    std::string rewritten;
    std::string_view input = tag_numbers(text, rewritten, source_, limits);
    if (rewritten.capacity() >= limits.max_parse_bytes) throw_over_budget(source_, limits);
    arena_ = std::make_unique<JsonArena>(input.size(), limits.max_parse_bytes - rewritten.capacity());
    json_error_t error;
    Feed in{input, 0, kPollBytes, &limits};
    root_ = load(in, arena_.get(), &error);
    if (in.cancelled) throw_limit(source_, ProviderError::Kind::Cancelled, "cancelled while parsing");
    if (arena_->exhausted()) throw_over_budget(source_, limits);
    if (root_ == nullptr) {
        throw_parse_error(source_, "invalid JSON at line " + std::to_string(error.line) + " column " +
                                       std::to_string(error.column) + ": " + without_token(error.text));
    }
    if (!json_is_object(root_)) throw_parse_error(source_, "invalid JSON: the top level is not an object");
}

JsonDoc::~JsonDoc() = default;  // the arena holds every node

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

OptInt JsonRef::opt_count(const char *key) const {
    auto v = find(key);
    return v ? OptInt(v->as_count()) : std::nullopt;
}

std::optional<UnixSeconds> JsonRef::opt_unix_time(const char *key) const {
    auto v = find(key);
    return v ? std::optional<UnixSeconds>(v->as_unix_time()) : std::nullopt;
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

int64_t JsonRef::as_count() const {
    int64_t v = as_int();
    if (v < 0) fail("must not be negative, got " + std::to_string(v));
    return v;
}

UnixSeconds JsonRef::as_unix_time() const {
    constexpr UnixSeconds kMin = -62135596800;  // 0001-01-01T00:00:00Z
    constexpr UnixSeconds kMax = 253402300799;  // 9999-12-31T23:59:59Z
    int64_t v = as_int();
    if (v < kMin || v > kMax) fail("time " + std::to_string(v) + " is outside the years 0001 to 9999");
    return v;
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
