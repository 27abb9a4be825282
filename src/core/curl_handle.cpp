// The process's libcurl easy handle (created lazily, reset per request) and one GET or POST attempt on it.
#include "core/curl_handle.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>
#include <vector>

#ifndef AISPEND_VERSION
#define AISPEND_VERSION "dev"
#endif

namespace aispend::core {

namespace {

// Plain pointers and flags only: constant-initialised, nothing runs at load time.
CURL *g_handle = nullptr;
bool g_global_initialised = false;

constexpr const char *kUserAgent =
    "aispend/" AISPEND_VERSION " (PostgreSQL extension; +https://github.com/aispend/aispend)";

// The handle, reset to defaults; nullptr when libcurl cannot be initialised.
CURL *acquire_handle() {
    if (!g_global_initialised) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return nullptr;
        g_global_initialised = true;
    }
    if (g_handle == nullptr) g_handle = curl_easy_init();
    if (g_handle != nullptr) curl_easy_reset(g_handle);
    return g_handle;
}

// Header lines for CURLOPT_HTTPHEADER; zeroed before they are freed since some carry the admin key.
class HeaderList {
  public:
    HeaderList() = default;
    HeaderList(const HeaderList &) = delete;
    HeaderList &operator=(const HeaderList &) = delete;
    ~HeaderList() {
        for (curl_slist *node = list_; node != nullptr; node = node->next) {
            volatile char *p = node->data;
            for (size_t i = 0, n = std::strlen(node->data); i < n; ++i) p[i] = 0;
        }
        curl_slist_free_all(list_);
    }
    bool append(const std::string &name, const std::string &value) {
        std::string line = name + ": " + value;
        curl_slist *grown = curl_slist_append(list_, line.c_str());
        std::fill(line.begin(), line.end(), '\0');
        if (grown == nullptr) return false;
        list_ = grown;
        return true;
    }
    curl_slist *get() const { return list_; }

  private:
    curl_slist *list_ = nullptr;
};

// State shared with the callbacks for one transfer.
struct Transfer {
    AttemptResult *result;
    size_t max_body_bytes;
    bool cut_oversize_body;
    const std::function<bool()> *should_cancel;
    bool too_large = false;
    bool cancelled = false;
    bool out_of_memory = false;
};

size_t on_body(char *data, size_t size, size_t count, void *userdata) noexcept {
    auto *t = static_cast<Transfer *>(userdata);
    size_t n = size * count;
    std::string &body = t->result->response.body;
    const size_t room = t->max_body_bytes - body.size();
    const bool too_large = n > room;
    const size_t keep = too_large ? (t->cut_oversize_body ? room : 0) : n;
    try {
        body.append(data, keep);
    } catch (...) {
        t->out_of_memory = true;
        return 0;
    }
    t->result->body_bytes += keep;
    if (too_large) {
        t->too_large = true;
        return 0;  // stops the transfer
    }
    return n;
}

size_t on_header(char *data, size_t size, size_t count, void *userdata) noexcept {
    auto *t = static_cast<Transfer *>(userdata);
    size_t n = size * count;
    std::string_view line(data, n);
    try {
        auto &headers = t->result->response.headers;
        if (line.rfind("HTTP/", 0) == 0) {  // a new response (e.g. after 100 Continue): start over
            headers.clear();
            return n;
        }
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) return n;
        std::string name(line.substr(0, colon));
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::string_view value = line.substr(colon + 1);
        size_t begin = value.find_first_not_of(" \t");
        size_t end = value.find_last_not_of(" \t\r\n");
        headers[name] =
            begin == std::string_view::npos ? "" : std::string(value.substr(begin, end - begin + 1));
    } catch (...) {
        t->out_of_memory = true;
        return 0;
    }
    return n;
}

int on_progress(void *userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t) noexcept {
    auto *t = static_cast<Transfer *>(userdata);
    try {
        if (t->should_cancel != nullptr && *t->should_cancel && (*t->should_cancel)()) t->cancelled = true;
    } catch (...) {
        t->cancelled = true;  // a hook that cannot answer is treated as "stop"
    }
    return t->cancelled ? 1 : 0;
}

// Failures worth another attempt: the server may answer next time.
bool is_transient(CURLcode code) {
    switch (code) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_HTTP2:
        case CURLE_PARTIAL_FILE:
        case CURLE_GOT_NOTHING:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_HTTP2_STREAM:
            return true;
        default:
            return false;
    }
}

// Sets every option; returns the first failure, so a security option can never be silently missing.
CURLcode configure(CURL *h, HttpMethod method, const HttpRequest &request, const AttemptLimits &limits,
                   Transfer &transfer, const HeaderList &headers, char *error_buffer) {
    const char *protocols = limits.allow_http ? "http,https" : "https";
    CURLcode rc = CURLE_OK;
    auto set = [&](CURLoption option, auto value) {
        if (rc == CURLE_OK) rc = curl_easy_setopt(h, option, value);
    };
    set(CURLOPT_ERRORBUFFER, error_buffer);
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_URL, request.url.c_str());
    if (method == HttpMethod::Post) {
        // The size first: COPYPOSTFIELDS then copies exactly that many bytes, and the handle owns the copy.
        set(CURLOPT_POST, 1L);
        set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
        set(CURLOPT_COPYPOSTFIELDS, request.body.c_str());
    } else {
        set(CURLOPT_HTTPGET, 1L);
    }
    set(CURLOPT_PROTOCOLS_STR, protocols);
    set(CURLOPT_REDIR_PROTOCOLS_STR, protocols);
    set(CURLOPT_FOLLOWLOCATION, 0L);
    set(CURLOPT_SSL_VERIFYPEER, 1L);
    set(CURLOPT_SSL_VERIFYHOST, 2L);
    set(CURLOPT_CONNECTTIMEOUT_MS, limits.connect_timeout_ms);
    set(CURLOPT_TIMEOUT_MS, limits.timeout_ms);
    set(CURLOPT_LOW_SPEED_LIMIT, limits.low_speed_bytes_per_s);
    set(CURLOPT_LOW_SPEED_TIME, limits.low_speed_time_s);
    set(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(limits.max_body_bytes));
    set(CURLOPT_ACCEPT_ENCODING, "");
    set(CURLOPT_USERAGENT, kUserAgent);
    set(CURLOPT_HTTPHEADER, headers.get());
    set(CURLOPT_WRITEFUNCTION, on_body);
    set(CURLOPT_WRITEDATA, &transfer);
    set(CURLOPT_HEADERFUNCTION, on_header);
    set(CURLOPT_HEADERDATA, &transfer);
    set(CURLOPT_XFERINFOFUNCTION, on_progress);
    set(CURLOPT_XFERINFODATA, &transfer);
    set(CURLOPT_NOPROGRESS, 0L);
    return rc;
}

bool has_line_break(const std::string &text) {
    return text.find_first_of("\r\n") != std::string::npos;
}

void fail(AttemptResult &result, AttemptResult::Failure failure, bool retryable, std::string error) {
    result.failure = failure;
    result.retryable = retryable;
    result.error = std::move(error);
}

}  // namespace

AttemptResult curl_perform_once(HttpMethod method, const HttpRequest &request, const AttemptLimits &limits) {
    AttemptResult result;
    CURL *h = acquire_handle();
    if (h == nullptr) {
        fail(result, AttemptResult::Failure::Network, false, "libcurl could not be initialised");
        return result;
    }
    std::vector<std::pair<std::string, std::string>> post_headers;
    if (method == HttpMethod::Post) {
        if (!request.content_type.empty()) post_headers.emplace_back("Content-Type", request.content_type);
        post_headers.emplace_back("Expect", "");  // no "100-continue" round trip before the body
    }
    const auto &body_headers = post_headers;
    HeaderList headers;
    for (const auto *list : {&request.headers, &request.secret_headers, &body_headers}) {
        for (const auto &[name, value] : *list) {
            if (has_line_break(name) || has_line_break(value)) {
                fail(result, AttemptResult::Failure::Config, false,
                     "header " + name + " contains a line break");
                return result;
            }
            if (!headers.append(name, value)) throw std::bad_alloc();
        }
    }

    Transfer transfer{&result, limits.max_body_bytes, limits.cut_oversize_body, limits.should_cancel};
    char error_buffer[CURL_ERROR_SIZE] = {0};
    CURLcode rc = configure(h, method, request, limits, transfer, headers, error_buffer);
    if (rc == CURLE_OK) rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &result.response.status);
    // The handle keeps pointers to the header list and this frame's buffer: drop them before returning.
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);

    if (transfer.out_of_memory) throw std::bad_alloc();
    if (rc == CURLE_OK) return result;
    std::string error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    const bool too_large = transfer.too_large || rc == CURLE_FILESIZE_EXCEEDED;
    if (transfer.cancelled) {
        fail(result, AttemptResult::Failure::Cancelled, false, "cancelled by the caller");
    } else if (too_large && limits.cut_oversize_body && result.response.status != 0) {
        result.response.body_cut = true;  // the status line and headers were read: the response stands
    } else if (too_large) {
        fail(result, AttemptResult::Failure::BodyTooLarge, false,
             "response larger than " + std::to_string(limits.max_body_bytes) + " bytes");
    } else if (rc == CURLE_UNSUPPORTED_PROTOCOL) {
        fail(result, AttemptResult::Failure::Config, false, "only https is allowed here");
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        fail(result, AttemptResult::Failure::Timeout, true, error);
    } else {
        fail(result, AttemptResult::Failure::Network, is_transient(rc), error);
    }
    return result;
}

void http_global_cleanup() noexcept {
    if (g_handle != nullptr) curl_easy_cleanup(g_handle);
    g_handle = nullptr;
    if (g_global_initialised) curl_global_cleanup();
    g_global_initialised = false;
}

}  // namespace aispend::core
