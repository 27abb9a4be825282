// What both providers share: query-string building and the cursor-following page loop.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/http.hpp"
#include "core/json.hpp"

namespace aispend::core {

// The URL that API paths ("/v1/...") are appended to: trailing slashes and one trailing "/v1" path segment
// removed, so a base URL written the way the providers' SDKs write it ("https://host/v1/") works as well
// as "https://host". "https://host/proxy/v1" -> "https://host/proxy".
std::string api_root(std::string url);

// ASCII upper case (currencies: "usd" -> "USD"), independent of the locale.
std::string ascii_upper(std::string text);

// Percent-encodes everything but RFC 3986 unreserved characters and ":" (legal in a query; keeps RFC 3339
// readable).
std::string url_encode(std::string_view text);

// "a=1&b=2" builder; keys are written as given (so "group_by[]" keeps its brackets), values encoded.
class Query {
  public:
    Query &add(std::string_view key, std::string_view value);
    Query &add(std::string_view key, long long value) { return add(key, std::to_string(value)); }
    const std::string &str() const { return text_; }

  private:
    std::string text_;
};

// Buckets per usage page: the API's maximum for the width (31 for 1d, 168 for 1h, 1440 for 1m), lowered to
// `requested` when that is smaller and positive (server option page_buckets). Throws Config for other widths.
long long usage_page_limit(const char *provider, const std::string &bucket_width, int requested);

// The smaller of the API's maximum and a positive `requested` (0 = the maximum).
inline long long page_limit(long long api_max, int requested) {
    return requested > 0 && requested < api_max ? requested : api_max;
}

// One paginated listing: the request is repeated with every parameter unchanged plus
// `cursor_param=<value of cursor_field>` until has_more is false.
struct PagedEndpoint {
    std::string base_url;      // api_root() of the account's base URL
    std::string path;          // "/v1/organization/costs"
    std::string query;         // without the cursor
    const char *cursor_param;  // "page", "after", "after_id"
    const char *cursor_field;  // "next_page", "last_id"
};

// What one provider call (one sync step) may consume.
struct FetchLimits {
    long max_pages = 2000;  // pages over every listing of the call (server option max_pages)
    ParseLimits parse;      // per page: memory of the parsed document, cancellation
};

// Follows the pages of the listings of one provider call, counting them against FetchLimits::max_pages.
class Pager {
  public:
    Pager(HttpTransport &http, FetchLimits limits) : http_(http), limits_(std::move(limits)) {}

    // Fetches every page, calling on_page with each parsed document's root before the next request.
    // `request` carries the provider name and headers; its url is filled in here. Throws
    // ProviderError{Parse} when has_more is true without a cursor, {CursorLoop} when a cursor repeats,
    // {PageLimit} when the call's page budget is spent.
    void for_each_page(const HttpRequest &request, const PagedEndpoint &endpoint,
                       const std::function<void(const JsonRef &root)> &on_page);

    // One request without pagination (OpenRouter's /activity returns its whole window at once), counted
    // against the page budget like a page.
    void fetch_once(const HttpRequest &request, const PagedEndpoint &endpoint,
                    const std::function<void(const JsonRef &root)> &on_page);

    // A listing paged by offset (OpenRouter): `offset=<rows so far>` is appended (nothing on the first
    // request) until on_page, which returns the number of rows the page held, reports fewer than page_size
    // rows or total_count rows have been delivered (total_count < 0: unknown). An empty page always ends it.
    void for_each_offset_page(const HttpRequest &request, const PagedEndpoint &endpoint, long page_size,
                              const std::function<long(const JsonRef &root, long *total_count)> &on_page);

  private:
    void count_page(const HttpRequest &request, const std::string &url);

    HttpTransport &http_;
    FetchLimits limits_;
    long pages_ = 0;
};

// Hands rows to a sink in batches of at most kRows, so that the rows of one page are never all in memory
// beside its document (a page of many tiny results would otherwise take many times its size).
template <typename T>
class RowBatch {
  public:
    static constexpr size_t kRows = 1000;
    explicit RowBatch(const std::function<void(std::vector<T> &&)> &sink) : sink_(sink) {}
    void add(T &&row) {
        rows_.push_back(std::move(row));
        if (rows_.size() >= kRows) flush();
    }
    void flush() {
        if (rows_.empty()) return;
        sink_(std::move(rows_));
        rows_.clear();
    }

  private:
    const std::function<void(std::vector<T> &&)> &sink_;
    std::vector<T> rows_;
};

}  // namespace aispend::core
