// HTTP GET and POST with retries on libcurl. One easy handle per process, created lazily.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/url_policy.hpp"

namespace aispend::core {

enum class HttpMethod { Get, Post };

struct HttpRequest {
    std::string url;  // full URL, query string included (a secret only when url_is_secret)
    std::vector<std::pair<std::string, std::string>> headers;         // ordinary headers
    std::vector<std::pair<std::string, std::string>> secret_headers;  // never logged or echoed
    std::string provider;                                             // for error messages
    std::string body;                                                 // sent by post() only
    std::string content_type;                                         // of the body (post() only)
    // The URL itself is a secret (a webhook URL's path is its token): errors and retry reports name only its
    // scheme, host and port, libcurl's explanations have every echo of its path and query masked, and the
    // response body is never quoted.
    bool url_is_secret = false;
};

struct HttpResponse {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // lower-cased names
    bool body_cut = false;                       // the body went past max_body_bytes (body_cap_fails off)
};

struct HttpOptions {
    long connect_timeout_ms = 10000;
    long request_timeout_ms = 60000;  // one attempt
    long total_deadline_ms = 300000;  // all attempts and waits of one get() or post()
    int max_retries = 5;
    size_t max_body_bytes = 64u << 20;
    // A body larger than max_body_bytes fails the request (BodyTooLarge); when false, the transfer stops at
    // the cap and the response stands with what was read (for callers that only need the status).
    bool body_cap_fails = true;
    HostPolicy hosts;                // every request's URL is checked against it before anything is sent
    long low_speed_bytes_per_s = 1;  // abort if slower than this ...
    long low_speed_time_s = 30;      // ... for this long
    long backoff_base_ms = 500;
    long backoff_max_ms = 30000;
    // Polled from libcurl's progress callback and between retries: return true to abort.
    std::function<bool()> should_cancel;
    // Sleeps between retries; the PostgreSQL side passes an interruptible latch wait.
    std::function<void(long ms)> wait;
    // Told about each retry before its wait ("<what failed>; retry 2 of 5 in 1000 ms"); the text has every
    // echo of the request's secrets masked.
    std::function<void(const std::string &what)> on_retry;
};

struct HttpStats {
    long requests = 0;
    long retries = 0;
    long bytes = 0;
};

// Interface so providers can be unit-tested with canned responses.
class HttpTransport {
  public:
    virtual ~HttpTransport() = default;
    // Returns a 2xx response or throws ProviderError (with provider, endpoint, status, retries).
    virtual HttpResponse get(const HttpRequest &request) = 0;
    virtual const HttpStats &stats() const = 0;
};

class CurlTransport : public HttpTransport {
  public:
    explicit CurlTransport(HttpOptions options);
    HttpResponse get(const HttpRequest &request) override;
    // Posts request.body as request.content_type, with the same checks, retries and errors as get().
    HttpResponse post(const HttpRequest &request);
    const HttpStats &stats() const override { return stats_; }

  private:
    HttpResponse send(HttpMethod method, const HttpRequest &request);

    HttpOptions options_;
    HttpStats stats_;
};

// Frees the process's libcurl handle and global state; the PostgreSQL layer calls it at process exit.
void http_global_cleanup() noexcept;

}  // namespace aispend::core
