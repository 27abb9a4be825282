// ProviderError: composes a complete, key-free what() from its details.
#include "core/errors.hpp"

#include <utility>

#include "core/utf8.hpp"

namespace aispend::core {

namespace {

using Kind = ProviderError::Kind;

// Kinds that come out of the HTTP transport, whose message states how many retries were spent.
bool counts_retries(Kind kind) {
    return kind != Kind::Config && kind != Kind::Parse && kind != Kind::CursorLoop && kind != Kind::PageLimit;
}

// Upper bounds, in characters, of the parts of a message that may hold text from a provider.
constexpr size_t kMaxEndpointChars = 640;  // a base URL of kMaxBaseUrlLength and the longest path
constexpr size_t kMaxTypeChars = 60;
constexpr size_t kMaxMessageChars = 300;
constexpr size_t kMaxDetailChars = 400;

// The part of the message after "<provider> <method> <endpoint>: ".
std::string describe(const ProviderError::Details &d) {
    std::string text;
    const std::string detail = clip_text(d.detail, kMaxDetailChars);
    if (d.http_status != 0) {
        text = "HTTP " + std::to_string(d.http_status);
        if (!d.provider_type.empty()) text += " " + clip_text(d.provider_type, kMaxTypeChars);
        if (!d.provider_message.empty()) text += ": " + clip_text(d.provider_message, kMaxMessageChars);
        if (!detail.empty()) text += "; " + detail;
        return text;
    }
    switch (d.kind) {
        case Kind::Network:
            text = "connection failed";
            break;
        case Kind::Timeout:
            text = "timed out";
            break;
        case Kind::Parse:
            text = "unexpected response";
            break;
        case Kind::BodyTooLarge:
            text = "response too large";
            break;
        case Kind::CursorLoop:
            text = "pagination cursor repeated";
            break;
        case Kind::PageLimit:
            text = "too many pages";
            break;
        case Kind::Cancelled:
            text = "cancelled";
            break;
        case Kind::Config:
            text = "bad configuration";
            break;
        case Kind::Http:
        case Kind::Auth:
        case Kind::RateLimited:
            text = kind_name(d.kind);
            break;
    }
    if (!detail.empty()) text += ": " + detail;
    return text;
}

// The message without the provider and endpoint.
std::string compose_reason(const ProviderError::Details &d) {
    std::string text = describe(d);
    if (counts_retries(d.kind)) {
        text += " (after " + std::to_string(d.retries) + (d.retries == 1 ? " retry)" : " retries)");
    }
    return text;
}

std::string compose(const ProviderError::Details &d) {
    std::string head = clip_text(d.provider, kMaxTypeChars);
    if (!d.endpoint.empty()) {
        const std::string method = clip_text(d.method, kMaxTypeChars);
        head += (head.empty() ? "" : " ") + method + " " + clip_text(d.endpoint, kMaxEndpointChars);
    }
    return head.empty() ? compose_reason(d) : head + ": " + compose_reason(d);
}

}  // namespace

ProviderError::ProviderError(Details d) : std::runtime_error(compose(d)), details_(std::move(d)) {}

std::string ProviderError::reason() const {
    return compose_reason(details_);
}

const char *kind_name(ProviderError::Kind kind) noexcept {
    switch (kind) {
        case Kind::Config:
            return "config";
        case Kind::Network:
            return "network";
        case Kind::Timeout:
            return "timeout";
        case Kind::Http:
            return "http";
        case Kind::Auth:
            return "auth";
        case Kind::RateLimited:
            return "rate_limited";
        case Kind::Parse:
            return "parse";
        case Kind::BodyTooLarge:
            return "body_too_large";
        case Kind::CursorLoop:
            return "cursor_loop";
        case Kind::PageLimit:
            return "page_limit";
        case Kind::Cancelled:
            return "cancelled";
    }
    return "unknown";
}

}  // namespace aispend::core
