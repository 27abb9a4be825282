// Anthropic Admin API: workspaces, API keys, messages usage report, cost report.
#include <cctype>
#include <stdexcept>
#include <unordered_set>

#include "core/decimal.hpp"
#include "core/paging.hpp"
#include "core/provider.hpp"
#include "core/timeutil.hpp"
#include "core/token_class.hpp"

namespace aispend::core {

namespace {

constexpr const char *kName = "anthropic";
constexpr const char *kDefaultBaseUrl = "https://api.anthropic.com";
constexpr const char *kApiVersion = "2023-06-01";

UnixSeconds as_time(const JsonRef &v) {
    auto t = parse_rfc3339(v.as_str_view());
    if (!t) v.fail("expected an RFC 3339 time");
    return *t;
}

std::optional<UnixSeconds> opt_time(const JsonRef &obj, const char *key) {
    auto v = obj.find(key);
    return v ? std::optional<UnixSeconds>(as_time(*v)) : std::nullopt;
}

Workspace parse_workspace(const JsonRef &w) {
    Workspace ws;
    ws.id = w.str("id");
    ws.name = w.opt_str("name");
    ws.created_at = opt_time(w, "created_at");
    ws.archived_at = opt_time(w, "archived_at");
    ws.status = ws.archived_at ? "archived" : "active";
    return ws;
}

// Whether a was created before b (a workspace without a creation time counts as the newest).
bool created_before(const Workspace &a, const Workspace &b) {
    return a.created_at && (!b.created_at || *a.created_at < *b.created_at);
}

// created_by.id; newer keys may have created_by null and name their principal instead.
OptStr key_owner(const JsonRef &k) {
    if (auto creator = k.find("created_by")) {
        if (OptStr id = creator->opt_str("id")) return id;
    }
    if (auto principal = k.find("principal")) {
        if (OptStr user = principal->opt_str("user_id")) return user;
        return principal->opt_str("service_account_id");
    }
    return std::nullopt;
}

ApiKey parse_key(const JsonRef &k) {
    ApiKey key;
    key.id = k.str("id");
    key.name = k.opt_str("name");
    key.hint = k.opt_str("partial_key_hint");
    key.status = k.str("status");
    key.workspace_id = k.opt_str("workspace_id");
    key.owner = key_owner(k);
    key.created_at = opt_time(k, "created_at");
    return key;
}

UsageRow parse_usage(const JsonRef &r, UnixSeconds start, UnixSeconds end) {
    UsageRow row;
    row.endpoint = "messages";
    row.bucket_start = start;
    row.bucket_end = end;
    row.workspace_id = r.opt_str("workspace_id");
    row.api_key_id = r.opt_str("api_key_id");
    row.model = r.opt_str("model");
    row.service_tier = r.opt_str("service_tier");
    if (row.service_tier) row.batch = *row.service_tier == "batch";
    row.context_window = r.opt_str("context_window");
    row.inference_geo = r.opt_str("inference_geo");
    row.uncached_input_tokens = r.opt_count("uncached_input_tokens");
    row.cache_read_tokens = r.opt_count("cache_read_input_tokens");
    if (auto cache = r.find("cache_creation")) {  // nested, never a flat cache_creation_input_tokens
        row.cache_write_5m_tokens = cache->opt_count("ephemeral_5m_input_tokens");
        row.cache_write_1h_tokens = cache->opt_count("ephemeral_1h_input_tokens");
    }
    row.output_tokens = r.opt_count("output_tokens");
    if (auto tools = r.find("server_tool_use"))
        row.web_search_requests = tools->opt_count("web_search_requests");
    return row;
}

CostRow parse_cost(const JsonRef &r, UnixSeconds start, UnixSeconds end) {
    CostRow row;
    row.bucket_start = start;
    row.bucket_end = end;
    row.workspace_id = r.opt_str("workspace_id");
    row.line_item = r.opt_str("description");
    row.model = r.opt_str("model");
    row.token_type = r.opt_str("token_type");
    row.service_tier = r.opt_str("service_tier");
    row.context_window = r.opt_str("context_window");
    row.cost_type = r.opt_str("cost_type");
    row.inference_geo = r.opt_str("inference_geo");
    row.token_class = anthropic_token_class(row.token_type, row.cost_type);
    JsonRef amount = r.at("amount");
    try {
        row.amount_usd = cents_to_dollars(amount.as_str_view());
    } catch (const std::invalid_argument &e) {
        amount.fail(e.what());
    }
    row.currency = ascii_upper(r.str("currency"));
    return row;
}

template <typename Fn>
void for_each_result(const JsonRef &root, Fn &&fn) {
    JsonRef data = root.at("data");
    for (size_t i = 0, n = data.size(); i < n; ++i) {
        JsonRef bucket = data[i];
        UnixSeconds start = as_time(bucket.at("starting_at"));
        UnixSeconds end = as_time(bucket.at("ending_at"));
        JsonRef results = bucket.at("results");
        for (size_t j = 0, m = results.size(); j < m; ++j) fn(results[j], start, end);
    }
}

template <typename Row, typename Parse>
void list_data(const JsonRef &root, const PageSink<Row> &sink, Parse parse) {
    JsonRef data = root.at("data");
    RowBatch<Row> rows(sink);
    for (size_t i = 0; i < data.size(); ++i) rows.add(parse(data[i]));
    rows.flush();
}

class Anthropic final : public Provider {
  public:
    Anthropic(const AccountConfig &config, HttpTransport &http)
        : base_url_(api_root(config.base_url.empty() ? kDefaultBaseUrl : config.base_url)),
          page_buckets_(config.page_buckets),
          pager_(http, config.limits) {
        request_.provider = kName;
        request_.headers.emplace_back("anthropic-version", kApiVersion);
        request_.secret_headers.emplace_back("x-api-key", config.admin_key);
    }

    // The default workspace is listed only with include_default=true, and nothing in it says it is the
    // default: it is the workspace that a second listing with that flag adds (the oldest one it adds, should
    // another be created between the two listings).
    void list_workspaces(const PageSink<Workspace> &sink) override {
        std::unordered_set<std::string> listed;
        list_workspace_pages(false, [&](const JsonRef &data) {
            RowBatch<Workspace> rows(sink);
            for (size_t i = 0; i < data.size(); ++i) {
                Workspace ws = parse_workspace(data[i]);
                listed.insert(ws.id);
                rows.add(std::move(ws));
            }
            rows.flush();
        });
        std::optional<Workspace> oldest_added;
        list_workspace_pages(true, [&](const JsonRef &data) {
            RowBatch<Workspace> rows(sink);
            for (size_t i = 0; i < data.size(); ++i) {
                Workspace ws = parse_workspace(data[i]);
                if (!listed.insert(ws.id).second) continue;
                if (!oldest_added) {
                    oldest_added = std::move(ws);
                    continue;
                }
                if (created_before(ws, *oldest_added)) std::swap(ws, *oldest_added);
                rows.add(std::move(ws));
            }
            rows.flush();
        });
        if (!oldest_added) return;
        oldest_added->is_default = true;
        std::vector<Workspace> last;
        last.push_back(std::move(*oldest_added));
        sink(std::move(last));
    }

    void list_api_keys(const PageSink<ApiKey> &sink) override {
        Query q;
        q.add("limit", 100);
        PagedEndpoint endpoint{base_url_, "/v1/organizations/api_keys", q.str(), "after_id", "last_id"};
        pager_.for_each_page(request_, endpoint,
                             [&](const JsonRef &root) { list_data(root, sink, parse_key); });
    }

    void fetch_usage(const Window &window, const PageSink<UsageRow> &sink) override {
        Query q = report_query(window, window.bucket_width,
                               usage_page_limit(kName, window.bucket_width, page_buckets_));
        for (const char *dim :
             {"workspace_id", "api_key_id", "model", "service_tier", "context_window", "inference_geo"}) {
            q.add("group_by[]", dim);
        }
        PagedEndpoint endpoint{base_url_, "/v1/organizations/usage_report/messages", q.str(), "page",
                               "next_page"};
        pager_.for_each_page(request_, endpoint, [&](const JsonRef &root) {
            std::vector<UsageRow> page;
            for_each_result(root, [&](const JsonRef &r, UnixSeconds s, UnixSeconds e) {
                page.push_back(parse_usage(r, s, e));
            });
            sink(std::move(page));
        });
    }

    void fetch_costs(const Window &window, const PageSink<CostRow> &sink) override {
        Query q = report_query(window, "1d", page_limit(31, page_buckets_));
        q.add("group_by[]", "workspace_id").add("group_by[]", "description");
        PagedEndpoint endpoint{base_url_, "/v1/organizations/cost_report", q.str(), "page", "next_page"};
        pager_.for_each_page(request_, endpoint, [&](const JsonRef &root) {
            std::vector<CostRow> page;
            for_each_result(root, [&](const JsonRef &r, UnixSeconds s, UnixSeconds e) {
                page.push_back(parse_cost(r, s, e));
            });
            sink(std::move(page));
        });
    }

  private:
    template <typename OnData>
    void list_workspace_pages(bool include_default, OnData &&on_data) {
        Query q;
        q.add("limit", 100).add("include_archived", "true");
        if (include_default) q.add("include_default", "true");
        PagedEndpoint endpoint{base_url_, "/v1/organizations/workspaces", q.str(), "after_id", "last_id"};
        pager_.for_each_page(request_, endpoint, [&](const JsonRef &root) { on_data(root.at("data")); });
    }

    static Query report_query(const Window &window, const std::string &bucket_width, long long limit) {
        Query q;
        q.add("starting_at", format_rfc3339(window.start)).add("ending_at", format_rfc3339(window.end));
        q.add("bucket_width", bucket_width).add("limit", limit);
        return q;
    }

    std::string base_url_;
    int page_buckets_;
    Pager pager_;
    HttpRequest request_;  // provider name and headers; the page loop fills in the URL
};

}  // namespace

ProviderInfo anthropic_provider_info() {
    return {kName, kDefaultBaseUrl,
            [](const AccountConfig &config, HttpTransport &http) -> std::unique_ptr<Provider> {
                return std::make_unique<Anthropic>(config, http);
            }};
}

}  // namespace aispend::core
