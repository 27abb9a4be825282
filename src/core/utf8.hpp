// UTF-8 hygiene for text that comes from a provider and ends up stored or in an error message: invalid
// sequences are replaced, and cuts fall between characters, never inside one.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace aispend::core {

// The text with every invalid UTF-8 sequence (stray continuation bytes, truncated or overlong sequences,
// surrogates, code points above U+10FFFF) replaced by U+FFFD, one replacement per maximal invalid run.
std::string valid_utf8(std::string_view text);

// At most max_chars characters of valid UTF-8 text; when something was cut, "..." is appended (so the result
// has at most max_chars + 3 characters).
std::string truncate_chars(std::string_view text, size_t max_chars);

// Both: invalid sequences replaced, then cut to max_chars characters.
inline std::string clip_text(std::string_view text, size_t max_chars) {
    return truncate_chars(valid_utf8(text), max_chars);
}

// The length of the longest prefix of text[0, max_bytes) that ends on a character boundary, for callers
// that must cut a C string into a fixed buffer without allocating. text is assumed valid UTF-8.
size_t utf8_cut(const char *text, size_t length, size_t max_bytes) noexcept;

}  // namespace aispend::core
