// Masks an admin key, and the ways a provider (or anything in between) may echo it, in text bound for an
// error message, a log line or sync_runs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace aispend::core {

// What counts as an echo of a key K (ASCII letters compared without case):
//   - K itself, upper- or lower-cased or in any mix of cases;
//   - a truncated echo: a prefix of K that goes at least kMinEchoChars characters past K's public prefix
//     ("sk-admin-", "sk-ant-admin01-", ...), or a suffix of K of at least kMinEchoChars characters;
//   - K in base64 (standard or URL-safe alphabet, padded or not), also when K was encoded inside a longer
//     text such as "Bearer K" or "user:K" (each of the three alignments), with the group after it.
// Each echo is replaced by "[redacted]". Keys shorter than kMinKeyChars are only matched whole.
class Redactor {
  public:
    static constexpr size_t kMinEchoChars = 8;
    static constexpr size_t kMinKeyChars = 16;

    Redactor() = default;
    explicit Redactor(const std::vector<std::string> &secrets);
    std::string apply(std::string_view text) const;

  private:
    struct Secret {
        std::string lower;                   // the key, ASCII lower-cased
        size_t min_prefix = 0;               // shortest prefix that counts as an echo
        size_t min_suffix = 0;               // shortest suffix that counts as an echo
        std::vector<std::string> encodings;  // base64 forms, compared exactly
    };
    std::vector<Secret> secrets_;
};

// The secret part of an "Authorization: Bearer K" or "x-api-key: K" header value: the text after the last
// space.
std::string header_secret(const std::string &value);

}  // namespace aispend::core
