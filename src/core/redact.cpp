#include "core/redact.hpp"

#include <algorithm>

namespace aispend::core {

namespace {

constexpr const char *kMask = "[redacted]";

// Key prefixes the providers publish: an echo of one of them reveals nothing.
constexpr const char *kPublicPrefixes[] = {"sk-ant-admin01-", "sk-ant-admin", "sk-ant-",
                                           "sk-admin-",       "sk-proj-",     "sk-"};

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowered(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

size_t public_prefix_length(const std::string &key) {
    for (const char *prefix : kPublicPrefixes) {
        std::string_view p(prefix);
        if (key.compare(0, p.size(), p) == 0) return p.size();
    }
    return 0;
}

std::string base64(std::string_view data, bool url_safe) {
    static const char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *alphabet = url_safe ? kUrl : kStd;
    std::string out;
    size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                     (static_cast<unsigned char>(data[i + 1]) << 8) | static_cast<unsigned char>(data[i + 2]);
        for (int shift = 18; shift >= 0; shift -= 6) out += alphabet[(v >> shift) & 63];
    }
    return out;  // whole groups only: the tail depends on what follows the key
}

// The base64 text that any encoding of a longer text containing `key` must contain, for the key starting at
// offset 0, 1 or 2 of a 3-byte group: the groups that hold key bytes only.
std::vector<std::string> base64_forms(const std::string &key) {
    std::vector<std::string> forms;
    for (size_t skip = 0; skip < 3 && skip < key.size(); ++skip) {
        std::string_view inner(key);
        inner.remove_prefix(skip);
        for (bool url_safe : {false, true}) {
            std::string form = base64(inner, url_safe);
            if (form.size() >= 8 && std::find(forms.begin(), forms.end(), form) == forms.end())
                forms.push_back(form);
        }
    }
    return forms;
}

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '-' || c == '_';
}

// Marks text[from, from + n) for masking.
void mark(std::vector<bool> &masked, size_t from, size_t n) {
    std::fill(masked.begin() + static_cast<std::ptrdiff_t>(from),
              masked.begin() + static_cast<std::ptrdiff_t>(from + n), true);
}

}  // namespace

Redactor::Redactor(const std::vector<std::string> &secrets) {
    for (const std::string &key : secrets) {
        if (key.empty()) continue;
        Secret s;
        s.lower = lowered(key);
        if (key.size() >= kMinKeyChars) {
            s.min_prefix = std::min(key.size(), public_prefix_length(s.lower) + kMinEchoChars);
            s.min_suffix = kMinEchoChars;
        } else {
            s.min_prefix = s.min_suffix = key.size();
        }
        s.encodings = base64_forms(key);
        secrets_.push_back(std::move(s));
    }
}

std::string Redactor::apply(std::string_view text) const {
    if (secrets_.empty()) return std::string(text);
    const std::string folded = lowered(text);
    std::vector<bool> masked(text.size(), false);
    for (const Secret &s : secrets_) {
        const std::string &k = s.lower;
        for (size_t i = 0; i < folded.size(); ++i) {
            // the longest prefix of the key starting at i
            size_t n = 0;
            while (n < k.size() && i + n < folded.size() && folded[i + n] == k[n]) ++n;
            if (n >= s.min_prefix) mark(masked, i, n);
            // the longest suffix of the key ending at i + 1
            size_t m = 0;
            while (m < k.size() && m <= i && folded[i - m] == k[k.size() - 1 - m]) ++m;
            if (m >= s.min_suffix) mark(masked, i + 1 - m, m);
        }
        for (const std::string &form : s.encodings) {
            for (size_t at = text.find(form); at != std::string_view::npos; at = text.find(form, at + 1)) {
                // with the last group, which holds the key's final bytes, and any padding
                size_t end = at + form.size();
                for (size_t tail = 0; end < text.size() && tail < 4 && is_base64_char(text[end]); ++tail)
                    ++end;
                while (end < text.size() && text[end] == '=') ++end;
                mark(masked, at, end - at);
            }
        }
    }
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (!masked[i]) {
            out += text[i];
        } else if (i == 0 || !masked[i - 1]) {
            out += kMask;
        }
    }
    return out;
}

std::string header_secret(const std::string &value) {
    size_t space = value.find_last_of(' ');
    return space == std::string::npos ? value : value.substr(space + 1);
}

}  // namespace aispend::core
