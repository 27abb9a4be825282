// Query strings and the cursor-following page loop with its budget.
#include "core/paging.hpp"

#include <cctype>

#include <unordered_set>

#include "core/utf8.hpp"

namespace aispend::core {

std::string url_encode(std::string_view text) {
    static const char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                          c == '-' || c == '.' || c == '_' || c == '~' || c == ':';
        if (unreserved) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

Query &Query::add(std::string_view key, std::string_view value) {
    if (!text_.empty()) text_.push_back('&');
    text_.append(key).push_back('=');
    text_.append(url_encode(value));
    return *this;
}

namespace {
constexpr size_t kMaxCursorBytes = 1024;  // the providers' cursors are a few dozen characters
}  // namespace

void Pager::for_each_page(const HttpRequest &request, const PagedEndpoint &endpoint,
                          const std::function<void(const JsonRef &root)> &on_page) {
    std::unordered_set<std::string> seen;
    std::string cursor;
    const std::string url = url_for_messages(endpoint.base_url + endpoint.path);
    for (;;) {
        if (pages_ >= limits_.max_pages) {
            ProviderError::Details d;
            d.kind = ProviderError::Kind::PageLimit;
            d.provider = request.provider;
            d.endpoint = url;
            d.detail = "the provider still had more after " + std::to_string(limits_.max_pages) +
                       " pages in one sync step (server option max_pages)";
            throw ProviderError(std::move(d));
        }
        ++pages_;
        HttpRequest req = request;
        req.url = endpoint.base_url + endpoint.path + "?" + endpoint.query;
        if (!cursor.empty()) req.url += "&" + Query().add(endpoint.cursor_param, cursor).str();
        HttpResponse response = http_.get(req);
        JsonDoc doc(response.body, JsonSource{request.provider, url, response.status}, limits_.parse);
        std::string().swap(response.body);  // one copy of the page in memory is enough
        JsonRef root = doc.root();
        on_page(root);
        if (!root.boolean("has_more")) return;
        OptStr next = root.opt_str(endpoint.cursor_field);
        if (!next || next->empty())
            root.at(endpoint.cursor_field).fail("has_more is true but there is no cursor");
        if (next->size() > kMaxCursorBytes)
            root.at(endpoint.cursor_field)
                .fail("cursor longer than " + std::to_string(kMaxCursorBytes) + " bytes");
        if (!seen.insert(*next).second) {
            ProviderError::Details d;
            d.kind = ProviderError::Kind::CursorLoop;
            d.provider = request.provider;
            d.endpoint = url;
            d.http_status = response.status;
            d.detail = std::string(endpoint.cursor_field) + ": cursor \"" + clip_text(*next, 40) +
                       "\" was already followed";
            throw ProviderError(std::move(d));
        }
        cursor = std::move(*next);
    }
}

void Pager::count_page(const HttpRequest &request, const std::string &url) {
    if (pages_ >= limits_.max_pages) {
        ProviderError::Details d;
        d.kind = ProviderError::Kind::PageLimit;
        d.provider = request.provider;
        d.endpoint = url;
        d.detail = "the provider still had more after " + std::to_string(limits_.max_pages) +
                   " pages in one sync step (server option max_pages)";
        throw ProviderError(std::move(d));
    }
    ++pages_;
}

void Pager::fetch_once(const HttpRequest &request, const PagedEndpoint &endpoint,
                       const std::function<void(const JsonRef &root)> &on_page) {
    const std::string url = url_for_messages(endpoint.base_url + endpoint.path);
    count_page(request, url);
    HttpRequest req = request;
    req.url = endpoint.base_url + endpoint.path + (endpoint.query.empty() ? "" : "?" + endpoint.query);
    HttpResponse response = http_.get(req);
    JsonDoc doc(response.body, JsonSource{request.provider, url, response.status}, limits_.parse);
    std::string().swap(response.body);
    on_page(doc.root());
}

void Pager::for_each_offset_page(const HttpRequest &request, const PagedEndpoint &endpoint, long page_size,
                                 const std::function<long(const JsonRef &root, long *total_count)> &on_page) {
    const std::string url = url_for_messages(endpoint.base_url + endpoint.path);
    long offset = 0;
    for (;;) {
        count_page(request, url);
        HttpRequest req = request;
        req.url = endpoint.base_url + endpoint.path + "?" + endpoint.query;
        if (offset > 0) req.url += "&" + Query().add("offset", offset).str();
        HttpResponse response = http_.get(req);
        JsonDoc doc(response.body, JsonSource{request.provider, url, response.status}, limits_.parse);
        std::string().swap(response.body);
        long total = -1;
        long rows = on_page(doc.root(), &total);
        offset += rows;
        if (rows <= 0 || rows < page_size || (total >= 0 && offset >= total)) return;
    }
}

std::string api_root(std::string url) {
    auto drop_slashes = [&url] {
        while (!url.empty() && url.back() == '/') url.pop_back();
    };
    drop_slashes();
    size_t authority = url.find("://");
    size_t path = url.find('/', authority == std::string::npos ? 0 : authority + 3);
    constexpr std::string_view kVersion = "/v1";
    if (path != std::string::npos && url.size() >= path + kVersion.size() &&
        url.compare(url.size() - kVersion.size(), kVersion.size(), kVersion) == 0) {
        url.resize(url.size() - kVersion.size());
        drop_slashes();
    }
    return url;
}

std::string ascii_upper(std::string text) {
    for (char &c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

long long usage_page_limit(const char *provider, const std::string &bucket_width, int requested) {
    long long api_max = bucket_width == "1d"   ? 31
                        : bucket_width == "1h" ? 168
                        : bucket_width == "1m" ? 1440
                                               : 0;
    if (api_max == 0) {
        ProviderError::Details d;
        d.kind = ProviderError::Kind::Config;
        d.provider = provider;
        d.detail = "bucket_width must be 1d, 1h or 1m, not \"" + bucket_width + "\"";
        throw ProviderError(std::move(d));
    }
    return page_limit(api_max, requested);
}

}  // namespace aispend::core
