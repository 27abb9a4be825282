// Errors raised by src/core. The PostgreSQL layer maps ProviderError::Kind to an SQLSTATE.
#pragma once

#include <stdexcept>
#include <string>

namespace aispend::core {

// Any failure talking to or understanding a provider. what() is a complete, key-free message of valid UTF-8
// whose parts that may come from a provider are cut to a bounded number of characters.
class ProviderError : public std::runtime_error {
  public:
    enum class Kind {
        Config,        // bad account settings (unknown provider, bad URL)
        Network,       // connection refused/reset, DNS, TLS
        Timeout,       // request or total deadline exceeded
        Http,          // non-2xx status after retries (other than auth)
        Auth,          // 401 / 403: wrong or non-admin key
        RateLimited,   // 429 still returned when the retry budget ran out
        Parse,         // malformed JSON, missing or mistyped field
        BodyTooLarge,  // response exceeded the body cap
        CursorLoop,    // a pagination cursor came back twice
        PageLimit,     // more pages than one provider call may fetch (endless pagination)
        Cancelled,     // the caller's cancellation hook said stop
    };

    struct Details {
        Kind kind = Kind::Http;
        std::string provider;       // "openai", "anthropic"
        std::string endpoint;       // url_for_messages(): "https://api.openai.com/v1/organization/costs"
        long http_status = 0;       // 0 when no response was received
        std::string provider_type;  // the provider's own error type, when the body has one
        std::string provider_message;
        int retries = 0;
        std::string detail;  // our own explanation (JSON path, ...)
        // For the server log only, never in what(): libcurl's explanation of a failed connection, which
        // would tell a closed port from an open one that is not a provider.
        std::string diagnostic;
        std::string method = "GET";  // of the request, as messages name it
    };

    explicit ProviderError(Details d);
    const Details &details() const noexcept { return details_; }
    Kind kind() const noexcept { return details_.kind; }
    // what() without its "<provider> <method> <endpoint>: " head, as "HTTP 500 (after 3 retries)".
    std::string reason() const;

  private:
    Details details_;
};

const char *kind_name(ProviderError::Kind kind) noexcept;

}  // namespace aispend::core
