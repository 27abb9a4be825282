// CurlTransport get and post: the host policy, retries around single attempts, and provider error bodies.
#include "core/http.hpp"

#include <jansson.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include "core/curl_handle.hpp"
#include "core/errors.hpp"
#include "core/redact.hpp"
#include "core/retry.hpp"
#include "core/utf8.hpp"

namespace aispend::core {

namespace {

// ---- provider error bodies

// Provider text is cut to this many characters before masking (ProviderError cuts it further when composing
// its message): bounded work whatever the body holds.
constexpr size_t kMaxProviderChars = 1000;
constexpr size_t kMaxErrorBody = 64u << 10;  // larger error bodies are not parsed (bounded memory)

// Masks the request's secrets: the secret headers' values, and the URL's path and query when the URL is one.
Redactor redactor_for(const HttpRequest &request) {
    std::vector<std::string> secrets;
    for (const auto &header : request.secret_headers) secrets.push_back(header_secret(header.second));
    if (request.url_is_secret) {
        for (std::string &part : url_secret_parts(request.url)) secrets.push_back(std::move(part));
    }
    return Redactor(secrets);
}

// One line of valid UTF-8, cut by characters, with every echo of the request's secrets masked.
std::string clean_text(const char *text, const Redactor &redactor) {
    std::string line = truncate_chars(valid_utf8(std::string_view(text).substr(0, 4 * kMaxProviderChars)),
                                      kMaxProviderChars);
    for (char &c : line) {
        if (static_cast<unsigned char>(c) < ' ' || c == 0x7f) c = ' ';
    }
    return redactor.apply(line);
}

// Only the providers' own error formats are read, and only their type and message strings: OpenAI
// {"error":{"message","type","code",...}} and Anthropic {"type":"error","error":{"type","message"}}. Any
// other body (an HTML page, a banner of whatever answered) is never echoed.
void parse_error_body(const std::string &body, const HttpRequest &request, ProviderError::Details &d) {
    if (body.size() > kMaxErrorBody) return;  // the providers' error bodies are a few hundred bytes
    std::unique_ptr<json_t, decltype(&json_decref)> root(json_loadb(body.data(), body.size(), 0, nullptr),
                                                         &json_decref);
    json_t *error = json_object_get(root.get(), "error");
    if (!json_is_object(error)) return;
    json_t *message = json_object_get(error, "message");
    json_t *type = json_object_get(error, "type");
    if (!json_is_string(type)) type = json_object_get(error, "code");
    const Redactor redactor = redactor_for(request);
    if (json_is_string(message)) d.provider_message = clean_text(json_string_value(message), redactor);
    if (json_is_string(type)) d.provider_type = clean_text(json_string_value(type), redactor);
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
AttemptLimits limits_for(const HttpOptions &options, long remaining_ms, bool allow_http) {
    AttemptLimits limits;
    limits.cut_oversize_body = !options.body_cap_fails;
    limits.allow_http = allow_http;
    limits.timeout_ms = std::min(options.request_timeout_ms, remaining_ms);
    limits.connect_timeout_ms = std::min(options.connect_timeout_ms, limits.timeout_ms);
    limits.low_speed_bytes_per_s = options.low_speed_bytes_per_s;
    limits.low_speed_time_s = options.low_speed_time_s;
    limits.max_body_bytes = options.max_body_bytes;
    limits.should_cancel = &options.should_cancel;
    return limits;
}

bool should_stop(const HttpOptions &options) {
    return options.should_cancel && options.should_cancel();
}

// The default wait: short sleeps that keep polling the cancellation hook.
void sleep_polling(long ms, const HttpOptions &options) {
    using Clock = std::chrono::steady_clock;
    const auto until = Clock::now() + std::chrono::milliseconds(ms);
    for (auto now = Clock::now(); now < until && !should_stop(options); now = Clock::now()) {
        std::this_thread::sleep_for(std::min<Clock::duration>(until - now, std::chrono::milliseconds(50)));
    }
}

}  // namespace

CurlTransport::CurlTransport(HttpOptions options) : options_(std::move(options)) {}

HttpResponse CurlTransport::get(const HttpRequest &request) {
    return send(HttpMethod::Get, request);
}

HttpResponse CurlTransport::post(const HttpRequest &request) {
    return send(HttpMethod::Post, request);
}

HttpResponse CurlTransport::send(HttpMethod method, const HttpRequest &request) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    auto remaining_ms = [&] {
        auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
        return options_.total_deadline_ms - static_cast<long>(spent);
    };
    const RetryPolicy policy{options_.max_retries, options_.backoff_base_ms, options_.backoff_max_ms};
    const std::string endpoint =
        request.url_is_secret ? origin_for_messages(request.url) : url_for_messages(request.url);
    auto error = [&](ProviderError::Kind kind, int retries) {
        ProviderError::Details d;
        d.kind = kind;
        d.provider = request.provider;
        d.endpoint = endpoint;
        d.method = method == HttpMethod::Post ? "POST" : "GET";
        d.retries = retries;
        return d;
    };

    if (should_stop(options_)) throw ProviderError(error(ProviderError::Kind::Cancelled, 0));
    AttemptLimits base_limits;
    {
        std::string why;
        if (!check_request_url(request.url, options_.hosts, &base_limits.allow_http, &why)) {
            ProviderError::Details d = error(ProviderError::Kind::Config, 0);
            d.detail = "refused to connect: " + why;
            throw ProviderError(d);
        }
    }
    for (int retries = 0;; ++retries) {
        long left = remaining_ms();
        if (left <= 0) {
            ProviderError::Details d = error(ProviderError::Kind::Timeout, retries);
            d.detail = "total deadline of " + std::to_string(options_.total_deadline_ms) + " ms reached";
            throw ProviderError(d);
        }
        ++stats_.requests;
        AttemptResult attempt =
            curl_perform_once(method, request, limits_for(options_, left, base_limits.allow_http));
        stats_.bytes += static_cast<long>(attempt.body_bytes);

        ProviderError::Details d;
        std::optional<long> retry_after;
        bool retryable = attempt.retryable;
        if (attempt.failure != AttemptResult::Failure::None) {
            d = error(kind_of_failure(attempt.failure), retries);
            // What libcurl says about a failed connection tells a closed port from an open one that does
            // not speak TLS: it goes to the server log only. A secret URL is masked in it (libcurl is not
            // known to quote a path, but nothing promises it never will).
            std::string text =
                request.url_is_secret ? redactor_for(request).apply(attempt.error) : std::move(attempt.error);
            if (d.kind == ProviderError::Kind::Network || d.kind == ProviderError::Kind::Timeout)
                d.diagnostic = std::move(text);
            else
                d.detail = std::move(text);
        } else if (attempt.response.status >= 200 && attempt.response.status < 300) {
            return std::move(attempt.response);
        } else {
            d = error(kind_of_status(attempt.response.status), retries);
            d.http_status = attempt.response.status;
            // A webhook receiver may quote the URL it was called on: its body is not echoed.
            if (!request.url_is_secret) parse_error_body(attempt.response.body, request, d);
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
            options_.on_retry(redactor_for(request).apply(
                std::string(ProviderError(d).what()) + "; retry " + std::to_string(retries + 1) + " of " +
                std::to_string(options_.max_retries) + " in " + std::to_string(*delay) + " ms"));
        if (options_.wait) {
            options_.wait(*delay);
        } else {
            sleep_polling(*delay, options_);
        }
        if (should_stop(options_)) throw ProviderError(error(ProviderError::Kind::Cancelled, retries));
        ++stats_.retries;
    }
}

}  // namespace aispend::core
