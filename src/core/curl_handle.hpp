// One HTTP attempt (GET or POST) on the process's single libcurl easy handle. No retries here (see http.cpp).
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "core/http.hpp"

namespace aispend::core {

struct AttemptLimits {
    long connect_timeout_ms = 10000;
    long timeout_ms = 60000;
    long low_speed_bytes_per_s = 1;
    long low_speed_time_s = 30;
    size_t max_body_bytes = 64u << 20;
    bool cut_oversize_body = false;  // a body past max_body_bytes: stop there and keep the response
    bool allow_http = false;         // plain http too (loopback allowed by the host policy); else https only
    const std::function<bool()> *should_cancel = nullptr;  // may be null or empty
};

struct AttemptResult {
    enum class Failure { None, Config, Network, Timeout, BodyTooLarge, Cancelled };
    Failure failure = Failure::None;
    bool retryable = false;  // for Network and Timeout: worth another attempt
    std::string error;       // libcurl's explanation when failure != None (never holds a header value)
    HttpResponse response;   // status and headers of whatever was received
    size_t body_bytes = 0;   // bytes received, whether or not the attempt succeeded
};

// Performs one GET, or one POST of request.body, with the security options of the transport (TLS verified, no
// redirects, http only when limits.allow_http; the caller has checked the URL against the host policy).
// Transfer failures are described in the result; only std::bad_alloc is thrown.
AttemptResult curl_perform_once(HttpMethod method, const HttpRequest &request, const AttemptLimits &limits);

}  // namespace aispend::core
