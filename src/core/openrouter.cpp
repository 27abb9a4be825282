// OpenRouter management API: workspaces, API keys, and the activity report (usage and costs per UTC day).
// Facts: ../shared/docs/other-providers.md §1. One /activity call returns the last 30 completed UTC days;
// the rows of the requested window are passed on, the others left out.
#include <stdexcept>
#include <string_view>
#include <unordered_set>

#include "core/decimal.hpp"
#include "core/paging.hpp"
#include "core/provider.hpp"
#include "core/timeutil.hpp"

namespace aispend::core {

namespace {

constexpr const char *kName = "openrouter";
constexpr const char *kDefaultBaseUrl = "https://openrouter.ai/api";
constexpr long kPage = 100;  // /keys pages are the most recent 100; /workspaces takes limit <= 100
constexpr UnixSeconds kDay = 86400;
// A day's row above this many dollars is not believed (OpenRouter accounts are prepaid credit pools).
constexpr std::string_view kMaxDailyUsd = "100000000";

UnixSeconds as_time(const JsonRef &v) {
    auto t = parse_rfc3339(v.as_str_view());
    if (!t) v.fail("expected an ISO 8601 time");
    return *t;
}

std::optional<UnixSeconds> opt_time(const JsonRef &obj, const char *key) {
    auto v = obj.find(key);
    return v ? std::optional<UnixSeconds>(as_time(*v)) : std::nullopt;
}

// "2026-06-12" or, as the API really sends it, "2026-06-12 00:00:00" (also "2026-06-12T00:00:00Z"):
// midnight UTC of that day. A time of day other than midnight is refused (rows are whole UTC days).
UnixSeconds as_day(const JsonRef &v) {
    std::string_view s = v.as_str_view();
    bool ok = s.size() == 10 || ((s.size() == 19 || (s.size() == 20 && s[19] == 'Z')) &&
                                 (s[10] == ' ' || s[10] == 'T') && s.substr(11, 8) == "00:00:00");
    std::optional<UnixSeconds> t;
    if (ok) t = parse_rfc3339(std::string(s.substr(0, 10)) + "T00:00:00Z");
    if (!t) v.fail("expected a UTC day \"YYYY-MM-DD\" (or \"YYYY-MM-DD 00:00:00\")");
    return *t;
}

// Exact dollars, refused when negative or absurdly large.
std::string as_usd(const JsonRef &v) {
    std::string usd = v.as_decimal();
    if (!usd.empty() && usd[0] == '-') {
        if (usd.find_first_not_of("-0.") != std::string::npos) v.fail("negative amount " + usd);
        usd = usd.substr(1);  // -0 is 0
    }
    std::string_view whole(usd);
    whole = whole.substr(0, whole.find('.'));
    if (whole.size() > kMaxDailyUsd.size() || (whole.size() == kMaxDailyUsd.size() && whole > kMaxDailyUsd))
        v.fail("amount " + usd + " USD is not believable for one day's row");
    return usd;
}

bool is_zero(const std::string &decimal) {
    return decimal.find_first_not_of("0.") == std::string::npos;
}

Workspace parse_workspace(const JsonRef &w) {
    Workspace ws;
    ws.id = w.str("id");
    ws.name = w.opt_str("name");
    ws.created_at = opt_time(w, "created_at");
    ws.status = "active";  // the API lists live workspaces only and has no archived state
    return ws;
}

ApiKey parse_key(const JsonRef &k) {
    ApiKey key;
    key.id = k.str("hash");
    key.name = k.opt_str("name");
    key.hint = k.opt_str("label");
    std::optional<bool> disabled = k.opt_bool("disabled");
    key.status = disabled.value_or(false) ? "disabled" : "active";
    key.workspace_id = k.opt_str("workspace_id");
    key.owner = k.opt_str("creator_user_id");
    key.created_at = opt_time(k, "created_at");
    return key;
}

// One /activity item, checked once and turned into a usage row and its cost rows.
struct Activity {
    UnixSeconds day = 0;
    OptStr workspace_id;
    std::string model;
    OptStr permaslug;
    OptStr endpoint_id;
    OptStr provider_name;
    std::string usage_usd;
    OptStr byok_usd;
    OptInt requests;
    OptInt prompt_tokens;
    OptInt completion_tokens;
};

Activity parse_activity(const JsonRef &r) {
    Activity a;
    a.day = as_day(r.at("date"));
    a.workspace_id = r.opt_str("workspace_id");
    a.model = r.str("model");
    a.permaslug = r.opt_str("model_permaslug");
    a.endpoint_id = r.opt_str("endpoint_id");
    a.provider_name = r.opt_str("provider_name");
    a.usage_usd = as_usd(r.at("usage"));
    if (auto byok = r.find("byok_usage_inference")) a.byok_usd = as_usd(*byok);
    a.requests = r.opt_count("requests");
    a.prompt_tokens = r.opt_count("prompt_tokens");
    a.completion_tokens = r.opt_count("completion_tokens");
    OptInt reasoning = r.opt_count("reasoning_tokens");
    // Reasoning tokens are part of the completion tokens (billed as such): never added, but checked.
    if (reasoning && a.completion_tokens && *reasoning > *a.completion_tokens)
        r.at("reasoning_tokens")
            .fail("reasoning tokens (" + std::to_string(*reasoning) + ") exceed the completion tokens (" +
                  std::to_string(*a.completion_tokens) + ") that include them");
    r.opt_count("byok_requests");  // not stored, but a negative or mistyped count is still an error
    return a;
}

UsageRow usage_row(const Activity &a) {
    UsageRow row;
    row.endpoint = "activity";
    row.bucket_start = a.day;
    row.bucket_end = a.day + kDay;
    row.workspace_id = a.workspace_id;
    row.model = a.model;
    // prompt_tokens is all input, cached or not: /activity has no cache split (see docs/providers.md).
    row.uncached_input_tokens = a.prompt_tokens;
    row.output_tokens = a.completion_tokens;  // reasoning included
    row.requests = a.requests;
    return row;
}

// "<kind> | <provider_name> | <endpoint_id> | <model_permaslug>", a missing part as "-": the serving
// provider, endpoint and versioned model are kept on the line (and in its natural key) rather than dropped.
std::string line_item(const char *kind, const Activity &a) {
    auto part = [](const OptStr &s) { return s ? *s : std::string("-"); };
    return std::string(kind) + " | " + part(a.provider_name) + " | " + part(a.endpoint_id) + " | " +
           part(a.permaslug);
}

CostRow cost_row(const Activity &a, const char *cost_type, const char *kind, const std::string &usd) {
    CostRow row;
    row.bucket_start = a.day;
    row.bucket_end = a.day + kDay;
    row.workspace_id = a.workspace_id;
    row.line_item = line_item(kind, a);
    row.model = a.model;
    row.cost_type = cost_type;
    row.amount_usd = usd;
    row.currency = "USD";
    // token_class stays null: a whole-request amount, not one kind of token
    return row;
}

class OpenRouter final : public Provider {
  public:
    OpenRouter(const AccountConfig &config, HttpTransport &http)
        : base_url_(api_root(config.base_url.empty() ? kDefaultBaseUrl : config.base_url)),
          pager_(http, config.limits) {
        request_.provider = kName;
        request_.secret_headers.emplace_back("Authorization", "Bearer " + config.admin_key);
    }

    void list_workspaces(const PageSink<Workspace> &sink) override {
        for_each_workspace_page([&](const JsonRef &data) {
            RowBatch<Workspace> rows(sink);
            for (size_t i = 0; i < data.size(); ++i) rows.add(parse_workspace(data[i]));
            rows.flush();
        });
    }

    // /keys lists one workspace's keys (the default one without workspace_id): every workspace is asked.
    // A key listed twice is passed on once.
    void list_api_keys(const PageSink<ApiKey> &sink) override {
        std::vector<std::string> workspaces;
        for_each_workspace_page([&](const JsonRef &data) {
            for (size_t i = 0; i < data.size(); ++i) workspaces.push_back(data[i].str("id"));
        });
        if (workspaces.empty()) workspaces.emplace_back();  // an account without workspaces: the default
        std::unordered_set<std::string> seen;
        for (const std::string &workspace : workspaces) {
            Query q;
            q.add("include_disabled", "true");
            if (!workspace.empty()) q.add("workspace_id", workspace);
            PagedEndpoint endpoint{base_url_, "/v1/keys", q.str(), nullptr, nullptr};
            pager_.for_each_offset_page(request_, endpoint, kPage, [&](const JsonRef &root, long *) {
                JsonRef data = root.at("data");
                RowBatch<ApiKey> rows(sink);
                for (size_t i = 0; i < data.size(); ++i) {
                    ApiKey key = parse_key(data[i]);
                    if (!key.workspace_id && !workspace.empty()) key.workspace_id = workspace;
                    if (seen.insert(key.id).second) rows.add(std::move(key));
                }
                rows.flush();
                return static_cast<long>(data.size());
            });
        }
    }

    void fetch_usage(const Window &window, const PageSink<UsageRow> &sink) override {
        if (window.bucket_width != "1d") {
            ProviderError::Details d;
            d.kind = ProviderError::Kind::Config;
            d.provider = kName;
            d.detail = "OpenRouter reports whole UTC days: bucket_width must be 1d, not \"" +
                       window.bucket_width + "\"";
            throw ProviderError(std::move(d));
        }
        fetch_activity(window, [&](const std::vector<Activity> &items) {
            std::vector<UsageRow> page;
            page.reserve(items.size());
            for (const Activity &a : items) page.push_back(usage_row(a));
            sink(std::move(page));
        });
    }

    // Two lines per item: credits spent ("usage", what OpenRouter bills, its BYOK fee included) and, when
    // not zero, the BYOK inference billed by the user's own provider key, kept apart by cost_type.
    void fetch_costs(const Window &window, const PageSink<CostRow> &sink) override {
        fetch_activity(window, [&](const std::vector<Activity> &items) {
            std::vector<CostRow> page;
            page.reserve(2 * items.size());
            for (const Activity &a : items) {
                page.push_back(cost_row(a, "credits", "credits", a.usage_usd));
                if (a.byok_usd && !is_zero(*a.byok_usd))
                    page.push_back(cost_row(a, "byok_inference", "byok inference", *a.byok_usd));
            }
            sink(std::move(page));
        });
    }

  private:
    // An API without workspaces (before 2026-04) answers 404: the account then has none, and its keys are
    // the default listing's.
    template <typename OnData>
    void for_each_workspace_page(OnData &&on_data) {
        Query q;
        q.add("limit", kPage);
        PagedEndpoint endpoint{base_url_, "/v1/workspaces", q.str(), nullptr, nullptr};
        bool any_page = false;
        try {
            pager_.for_each_offset_page(request_, endpoint, kPage, [&](const JsonRef &root, long *total) {
                any_page = true;
                JsonRef data = root.at("data");
                if (OptInt n = root.opt_count("total_count")) *total = static_cast<long>(*n);
                on_data(data);
                return static_cast<long>(data.size());
            });
        } catch (const ProviderError &e) {
            if (any_page || e.kind() != ProviderError::Kind::Http || e.details().http_status != 404) throw;
        }
    }

    // The activity of the window's days, in batches of at most RowBatch::kRows items.
    template <typename OnItems>
    void fetch_activity(const Window &window, OnItems &&on_items) {
        Query q;
        q.add("group_by", "workspace");
        PagedEndpoint endpoint{base_url_, "/v1/activity", q.str(), nullptr, nullptr};
        pager_.fetch_once(request_, endpoint, [&](const JsonRef &root) {
            JsonRef data = root.at("data");
            std::vector<Activity> items;
            for (size_t i = 0, n = data.size(); i < n; ++i) {
                Activity a = parse_activity(data[i]);
                if (a.day < window.start || a.day >= window.end) continue;
                items.push_back(std::move(a));
                if (items.size() >= RowBatch<UsageRow>::kRows) {
                    on_items(items);
                    items.clear();
                }
            }
            if (!items.empty()) on_items(items);
        });
    }

    std::string base_url_;
    Pager pager_;
    HttpRequest request_;  // provider name and the secret header; the page loop fills in the URL
};

}  // namespace

ProviderInfo openrouter_provider_info() {
    return {kName, kDefaultBaseUrl,
            [](const AccountConfig &config, HttpTransport &http) -> std::unique_ptr<Provider> {
                return std::make_unique<OpenRouter>(config, http);
            }};
}

}  // namespace aispend::core
