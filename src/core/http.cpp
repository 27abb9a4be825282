// CurlTransport::get (retries around one-attempt GETs), provider error bodies, and the base-URL rules.
#include "core/http.hpp"

#include <arpa/inet.h>
#include <jansson.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

#include "core/curl_handle.hpp"
#include "core/errors.hpp"
#include "core/retry.hpp"

namespace aispend::core {

namespace {

// ---- URL rules

struct UrlParts {
    std::string scheme;  // lower case
    std::string host;    // without brackets
    bool ipv6 = false;
    std::string rest;  // path, query and fragment
};

bool fail_url(std::string *why, const char *text) {
    if (why != nullptr) *why = text;
    return false;
}

bool is_port(const std::string &text) {
    if (text.empty() || text.size() > 5) return false;
    if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    long port = std::stol(text);
    return port >= 1 && port <= 65535;
}

bool is_host_name(const std::string &host) {
    return !host.empty() && std::all_of(host.begin(), host.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '.' || c == '_';
    });
}

// Splits scheme://host[:port]rest strictly; anything ambiguous is refused rather than guessed.
bool split_url(const std::string &url, UrlParts *parts, std::string *why) {
    for (unsigned char c : url) {
        if (c <= ' ' || c == 0x7f || c == '\\') {
            return fail_url(why, "the URL must not contain spaces, control characters or backslashes");
        }
    }
    size_t sep = url.find("://");
    if (sep == std::string::npos)
        return fail_url(why, "the URL must start with https:// (or http:// to loopback)");
    parts->scheme = url.substr(0, sep);
    std::transform(parts->scheme.begin(), parts->scheme.end(), parts->scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (parts->scheme != "https" && parts->scheme != "http") {
        return fail_url(why, "the scheme must be https (http is allowed only to loopback)");
    }
    size_t host_start = sep + 3;
    size_t host_end = url.find_first_of("/?#", host_start);
    if (host_end == std::string::npos) host_end = url.size();
    std::string authority = url.substr(host_start, host_end - host_start);
    parts->rest = url.substr(host_end);
    if (authority.find('@') != std::string::npos) {
        return fail_url(why, "the URL must not carry credentials (user:password@)");
    }
    std::string port;
    if (!authority.empty() && authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string::npos) return fail_url(why, "the IPv6 address is missing its closing ]");
        parts->host = authority.substr(1, close - 1);
        parts->ipv6 = true;
        in6_addr address;
        if (inet_pton(AF_INET6, parts->host.c_str(), &address) != 1) {
            return fail_url(why, "the host is not a valid IPv6 address");
        }
        std::string after = authority.substr(close + 1);
        if (!after.empty() && (after[0] != ':' || !is_port(port = after.substr(1)))) {
            return fail_url(why, "the port must be a number from 1 to 65535");
        }
    } else {
        size_t colon = authority.find(':');
        parts->host = authority.substr(0, colon);
        if (colon != std::string::npos && !is_port(authority.substr(colon + 1))) {
            return fail_url(why, "the port must be a number from 1 to 65535");
        }
        if (!is_host_name(parts->host)) return fail_url(why, "the URL has no valid host name");
    }
    return true;
}

// 127.0.0.0/8 written as four plain decimal parts (other spellings are simply not treated as loopback).
bool is_loopback_ipv4(const std::string &host) {
    int parts = 0;
    size_t pos = 0;
    while (pos <= host.size()) {
        size_t dot = std::min(host.find('.', pos), host.size());
        std::string part = host.substr(pos, dot - pos);
        if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return false;
        if (!std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
        int value = std::stoi(part);
        if (value > 255 || (parts == 0 && value != 127)) return false;
        ++parts;
        pos = dot + 1;
    }
    return parts == 4;
}

bool is_loopback_host(const UrlParts &parts) {
    if (parts.ipv6) {
        in6_addr address;
        return inet_pton(AF_INET6, parts.host.c_str(), &address) == 1 &&
               std::memcmp(&address, &in6addr_loopback, sizeof address) == 0;
    }
    std::string host = parts.host;
    std::transform(host.begin(), host.end(), host.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return host == "localhost" || is_loopback_ipv4(host);
}

// ---- provider error bodies

constexpr size_t kMaxProviderMessage = 300;

// One line of at most kMaxProviderMessage bytes, cut on a UTF-8 boundary, with the request's secrets masked.
std::string clean_message(std::string text, const HttpRequest &request) {
    for (const auto &[name, value] : request.secret_headers) {
        std::string secret = value.substr(value.find_last_of(' ') + 1);  // "Bearer sk-..." -> "sk-..."
        if (secret.size() < 8) continue;
        for (size_t at; (at = text.find(secret)) != std::string::npos;)
            text.replace(at, secret.size(), "[redacted]");
    }
    for (char &c : text) {
        if (static_cast<unsigned char>(c) < ' ' || c == 0x7f) c = ' ';
    }
    if (text.size() > kMaxProviderMessage) {
        size_t cut = kMaxProviderMessage;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
        text.resize(cut);
        text += "...";
    }
    return text;
}

// OpenAI {"error":{"message","type","code",...}} and Anthropic {"type":"error","error":{"type","message"}}.
void parse_error_body(const std::string &body, const HttpRequest &request, ProviderError::Details &d) {
    std::unique_ptr<json_t, decltype(&json_decref)> root(json_loadb(body.data(), body.size(), 0, nullptr),
                                                         &json_decref);
    json_t *error = json_object_get(root.get(), "error");
    if (json_is_string(error)) {
        d.provider_message = clean_message(json_string_value(error), request);
        return;
    }
    if (!json_is_object(error)) return;
    json_t *message = json_object_get(error, "message");
    json_t *type = json_object_get(error, "type");
    if (!json_is_string(type)) type = json_object_get(error, "code");
    if (json_is_string(message)) d.provider_message = clean_message(json_string_value(message), request);
    if (json_is_string(type)) d.provider_type = clean_message(json_string_value(type), request);
}

// ---- the retry loop's helpers

ProviderError::Kind kind_of_status(long status) {
    if (status == 401 || status == 403) return ProviderError::Kind::Auth;
    if (status == 429) return ProviderError::Kind::RateLimited;
    return ProviderError::Kind::Http;
}

ProviderError::Kind kind_of_failure(AttemptResult::Failure failure) {
    switch (failure) {
        case AttemptResult::Failure::Config:
            return ProviderError::Kind::Config;
        case AttemptResult::Failure::Timeout:
            return ProviderError::Kind::Timeout;
        case AttemptResult::Failure::BodyTooLarge:
            return ProviderError::Kind::BodyTooLarge;
        case AttemptResult::Failure::Cancelled:
            return ProviderError::Kind::Cancelled;
        case AttemptResult::Failure::None:
        case AttemptResult::Failure::Network:
            break;
    }
    return ProviderError::Kind::Network;
}

// One attempt gets the per-request timeout, shortened to what is left of the total deadline.
AttemptLimits limits_for(const HttpOptions &options, long remaining_ms) {
    AttemptLimits limits;
    limits.timeout_ms = std::min(options.request_timeout_ms, remaining_ms);
    limits.connect_timeout_ms = std::min(options.connect_timeout_ms, limits.timeout_ms);
    limits.low_speed_bytes_per_s = options.low_speed_bytes_per_s;
    limits.low_speed_time_s = options.low_speed_time_s;
    limits.max_body_bytes = options.max_body_bytes;
    limits.should_cancel = &options.should_cancel;
    return limits;
}

bool cancel_requested(const HttpOptions &options) {
    return options.should_cancel && options.should_cancel();
}

// The default wait: short sleeps that keep polling the cancellation hook.
void sleep_polling(long ms, const HttpOptions &options) {
    using Clock = std::chrono::steady_clock;
    const auto until = Clock::now() + std::chrono::milliseconds(ms);
    for (auto now = Clock::now(); now < until && !cancel_requested(options); now = Clock::now()) {
        std::this_thread::sleep_for(std::min<Clock::duration>(until - now, std::chrono::milliseconds(50)));
    }
}

}  // namespace

bool is_loopback_url(const std::string &url) {
    UrlParts parts;
    return split_url(url, &parts, nullptr) && is_loopback_host(parts);
}

bool is_allowed_base_url(const std::string &url, std::string *why) {
    UrlParts parts;
    if (!split_url(url, &parts, why)) return false;
    if (parts.rest.find('?') != std::string::npos)
        return fail_url(why, "a base URL must not have a query string");
    if (parts.rest.find('#') != std::string::npos)
        return fail_url(why, "a base URL must not have a fragment");
    if (parts.scheme == "http" && !is_loopback_host(parts)) {
        return fail_url(why,
                        "http:// is allowed only to loopback (127.0.0.0/8, [::1], localhost); use https://");
    }
    return true;
}

CurlTransport::CurlTransport(HttpOptions options) : options_(std::move(options)) {}

HttpResponse CurlTransport::get(const HttpRequest &request) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    auto remaining_ms = [&] {
        auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
        return options_.total_deadline_ms - static_cast<long>(spent);
    };
    const RetryPolicy policy{options_.max_retries, options_.backoff_base_ms, options_.backoff_max_ms};
    auto error = [&](ProviderError::Kind kind, int retries) {
        ProviderError::Details d;
        d.kind = kind;
        d.provider = request.provider;
        d.endpoint = request.endpoint_path;
        d.retries = retries;
        return d;
    };

    if (cancel_requested(options_)) throw ProviderError(error(ProviderError::Kind::Cancelled, 0));
    for (int retries = 0;; ++retries) {
        long left = remaining_ms();
        if (left <= 0) {
            ProviderError::Details d = error(ProviderError::Kind::Timeout, retries);
            d.detail = "total deadline of " + std::to_string(options_.total_deadline_ms) + " ms reached";
            throw ProviderError(d);
        }
        ++stats_.requests;
        AttemptResult attempt = curl_get_once(request, limits_for(options_, left));
        stats_.bytes += static_cast<long>(attempt.body_bytes);

        ProviderError::Details d;
        std::optional<long> retry_after;
        bool retryable = attempt.retryable;
        if (attempt.failure != AttemptResult::Failure::None) {
            d = error(kind_of_failure(attempt.failure), retries);
            d.detail = attempt.error;
        } else if (attempt.response.status >= 200 && attempt.response.status < 300) {
            return std::move(attempt.response);
        } else {
            d = error(kind_of_status(attempt.response.status), retries);
            d.http_status = attempt.response.status;
            parse_error_body(attempt.response.body, request, d);
            retryable = is_retryable_status(d.http_status);
            auto header = attempt.response.headers.find("retry-after");
            if (header != attempt.response.headers.end()) retry_after = parse_retry_after(header->second);
        }
        if (!retryable) throw ProviderError(d);

        left = remaining_ms();
        std::optional<long> delay =
            next_retry_delay_ms(policy, retries, left, retry_after, default_uniform_random);
        if (!delay) {
            if (retries < options_.max_retries) {
                std::string why =
                    retry_after ? "Retry-After " + std::to_string(*retry_after) + " s" : "the next retry";
                d.detail += (d.detail.empty() ? "" : "; ") + why + " would pass the total deadline (" +
                            std::to_string(std::max(0L, left)) + " ms left)";
            }
            throw ProviderError(d);
        }
        if (options_.on_retry)
            options_.on_retry(std::string(ProviderError(d).what()) + "; retry " +
                              std::to_string(retries + 1) + " of " + std::to_string(options_.max_retries) +
                              " in " + std::to_string(*delay) + " ms");
        if (options_.wait) {
            options_.wait(*delay);
        } else {
            sleep_polling(*delay, options_);
        }
        if (cancel_requested(options_)) throw ProviderError(error(ProviderError::Kind::Cancelled, retries));
        ++stats_.retries;
    }
}

}  // namespace aispend::core
