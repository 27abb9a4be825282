// OpenAI Admin API: projects, project API keys, completions/embeddings usage, costs.
#include <cctype>

#include "core/line_item.hpp"
#include "core/paging.hpp"
#include "core/provider.hpp"

namespace aispend::core {

namespace {

constexpr const char *kName = "openai";
constexpr const char *kDefaultBaseUrl = "https://api.openai.com";

Workspace parse_project(const JsonRef &p) {
    Workspace w;
    w.id = p.str("id");
    w.name = p.opt_str("name");
    w.created_at = p.opt_unix_time("created_at");
    w.archived_at = p.opt_unix_time("archived_at");
    OptStr status = p.opt_str("status");
    w.status = status ? *status : (w.archived_at ? "archived" : "active");
    return w;
}

OptStr key_owner(const JsonRef &key) {
    auto owner = key.find("owner");
    if (!owner) return std::nullopt;
    if (auto user = owner->find("user")) {
        OptStr email = user->opt_str("email");
        return email ? email : user->opt_str("name");
    }
    if (auto account = owner->find("service_account")) return account->opt_str("name");
    return std::nullopt;
}

ApiKey parse_key(const JsonRef &k, const std::string &project_id) {
    ApiKey key;
    key.id = k.str("id");
    key.name = k.opt_str("name");
    key.hint = k.opt_str("redacted_value");
    key.status = "active";  // the list holds live keys only; deleted keys vanish
    key.workspace_id = project_id;
    key.owner = key_owner(k);
    key.created_at = k.opt_unix_time("created_at");
    key.last_used_at = k.opt_unix_time("last_used_at");
    return key;
}

// a + b (either may be missing), or a parse error naming the fields when the sum leaves int64.
OptInt sum(const JsonRef &r, OptInt a, OptInt b, const char *what) {
    if (!a || !b) return a ? a : b;
    int64_t total = 0;
    if (__builtin_add_overflow(*a, *b, &total)) r.fail(std::string(what) + " overflows a 64-bit integer");
    return total;
}

// See docs/providers.md "Token normalisation". New field set (input_uncached_tokens present): every figure
// already spans text, audio and image. Legacy set: input_tokens and output_tokens were text only and audio
// came on top, with cached audio not separated (so it is counted as uncached).
// Token counts must not be negative, and every derived figure must fit in int64: a hostile or broken
// response fails with the fields named instead of wrapping around.
void completions_tokens(const JsonRef &r, UsageRow &row) {
    OptInt uncached = r.opt_count("input_uncached_tokens");
    int64_t input = r.count("input_tokens");
    OptInt output = r.opt_count("output_tokens");
    row.cache_read_tokens = r.opt_count("input_cached_tokens");
    row.input_audio_tokens = r.opt_count("input_audio_tokens");
    row.output_audio_tokens = r.opt_count("output_audio_tokens");
    if (uncached) {
        row.uncached_input_tokens = uncached;
        row.cache_write_5m_tokens = r.opt_count("input_cache_write_tokens");
        row.output_tokens = output;
        row.input_audio_tokens = sum(r, row.input_audio_tokens, r.opt_count("input_cached_audio_tokens"),
                                     "input_audio_tokens + input_cached_audio_tokens");
        row.input_image_tokens =
            sum(r, r.opt_count("input_image_tokens"), r.opt_count("input_cached_image_tokens"),
                "input_image_tokens + input_cached_image_tokens");
        row.output_image_tokens = r.opt_count("output_image_tokens");
    } else {
        int64_t cached = row.cache_read_tokens.value_or(0);
        if (cached > input) r.fail("input_cached_tokens is larger than input_tokens");
        row.uncached_input_tokens = sum(r, input - cached, row.input_audio_tokens,
                                        "input_tokens - input_cached_tokens + input_audio_tokens");
        row.output_tokens = output ? sum(r, output, row.output_audio_tokens.value_or(0),
                                         "output_tokens + output_audio_tokens")
                                   : std::nullopt;
    }
}

UsageRow parse_usage(const JsonRef &r, const char *endpoint, int64_t start, int64_t end) {
    UsageRow row;
    row.endpoint = endpoint;
    row.bucket_start = start;
    row.bucket_end = end;
    row.workspace_id = r.opt_str("project_id");
    row.api_key_id = r.opt_str("api_key_id");
    row.model = r.opt_str("model");
    row.service_tier = r.opt_str("service_tier");
    row.batch = r.opt_bool("batch");
    row.requests = r.opt_count("num_model_requests");
    if (endpoint[0] == 'c') {
        completions_tokens(r, row);
    } else {
        row.uncached_input_tokens = r.opt_count("input_tokens");
    }
    return row;
}

CostRow parse_cost(const JsonRef &r, int64_t start, int64_t end) {
    CostRow row;
    row.bucket_start = start;
    row.bucket_end = end;
    row.workspace_id = r.opt_str("project_id");
    row.api_key_id = r.opt_str("api_key_id");
    row.line_item = r.opt_str("line_item");
    LineItem item = parse_line_item(row.line_item.value_or(""));
    row.model = std::move(item.model);
    row.token_type = std::move(item.kind);
    row.cost_type = std::move(item.surface);
    row.token_class = std::move(item.token_class);
    row.service_tier = r.opt_str("service_tier");  // not sent today; the line's own tier word otherwise
    if (!row.service_tier) row.service_tier = std::move(item.tier);
    JsonRef amount = r.at("amount");
    row.amount_usd = amount.decimal("value");
    row.currency = ascii_upper(amount.str("currency"));
    row.quantity = r.opt_decimal("quantity");
    row.quantity_unit = r.opt_str("quantity_unit");
    return row;
}

// Calls fn(result, start_time, end_time) for every result of every bucket of a usage/costs page.
template <typename Fn>
void for_each_result(const JsonRef &root, Fn &&fn) {
    JsonRef data = root.at("data");
    for (size_t i = 0, n = data.size(); i < n; ++i) {
        JsonRef bucket = data[i];
        int64_t start = bucket.unix_time("start_time");
        int64_t end = bucket.unix_time("end_time");
        JsonRef results = bucket.at("results");
        for (size_t j = 0, m = results.size(); j < m; ++j) fn(results[j], start, end);
    }
}

class OpenAi final : public Provider {
  public:
    OpenAi(const AccountConfig &config, HttpTransport &http)
        : base_url_(api_root(config.base_url.empty() ? kDefaultBaseUrl : config.base_url)),
          page_buckets_(config.page_buckets),
          pager_(http, config.limits) {
        request_.provider = kName;
        request_.secret_headers.emplace_back("Authorization", "Bearer " + config.admin_key);
    }

    void list_workspaces(const PageSink<Workspace> &sink) override {
        list_projects([&](const JsonRef &data) {
            RowBatch<Workspace> rows(sink);
            for (size_t i = 0; i < data.size(); ++i) rows.add(parse_project(data[i]));
            rows.flush();
        });
    }

    void list_api_keys(const PageSink<ApiKey> &sink) override {
        list_projects([&](const JsonRef &projects) {
            for (size_t i = 0; i < projects.size(); ++i) list_project_keys(projects[i].str("id"), sink);
        });
    }

    void fetch_usage(const Window &window, const PageSink<UsageRow> &sink) override {
        long long limit = usage_page_limit(kName, window.bucket_width, page_buckets_);
        Query completions = usage_query(window, limit);
        completions.add("group_by", "project_id").add("group_by", "api_key_id").add("group_by", "model");
        completions.add("group_by", "batch").add("group_by", "service_tier");
        fetch_usage_endpoint("completions", completions, sink);
        Query embeddings = usage_query(window, limit);
        embeddings.add("group_by", "project_id").add("group_by", "api_key_id").add("group_by", "model");
        fetch_usage_endpoint("embeddings", embeddings, sink);
    }

    void fetch_costs(const Window &window, const PageSink<CostRow> &sink) override {
        Query q;
        q.add("start_time", window.start)
            .add("end_time", window.end)
            .add("bucket_width", "1d")
            .add("limit", page_limit(180, page_buckets_));
        q.add("group_by", "project_id").add("group_by", "line_item").add("group_by", "api_key_id");
        PagedEndpoint endpoint{base_url_, "/v1/organization/costs", q.str(), "page", "next_page"};
        pager_.for_each_page(request_, endpoint, [&](const JsonRef &root) {
            RowBatch<CostRow> rows(sink);
            for_each_result(root, [&](const JsonRef &r, int64_t start, int64_t end) {
                rows.add(parse_cost(r, start, end));
            });
            rows.flush();
        });
    }

  private:
    template <typename OnData>
    void list_projects(OnData &&on_data) {
        Query q;
        q.add("limit", 100).add("include_archived", "true");
        PagedEndpoint endpoint{base_url_, "/v1/organization/projects", q.str(), "after", "last_id"};
        pager_.for_each_page(request_, endpoint, [&](const JsonRef &root) { on_data(root.at("data")); });
    }

    void list_project_keys(const std::string &project_id, const PageSink<ApiKey> &sink) {
        Query q;
        q.add("limit", 100).add("owner_project_access", "any");
        std::string path = "/v1/organization/projects/" + url_encode(project_id) + "/api_keys";
        PagedEndpoint endpoint{base_url_, path, q.str(), "after", "last_id"};
        pager_.for_each_page(request_, endpoint, [&](const JsonRef &root) {
            JsonRef data = root.at("data");
            RowBatch<ApiKey> rows(sink);
            for (size_t i = 0; i < data.size(); ++i) rows.add(parse_key(data[i], project_id));
            rows.flush();
        });
    }

    static Query usage_query(const Window &window, long long limit) {
        Query q;
        q.add("start_time", window.start).add("end_time", window.end);
        q.add("bucket_width", window.bucket_width).add("limit", limit);
        return q;
    }

    void fetch_usage_endpoint(const char *name, const Query &q, const PageSink<UsageRow> &sink) {
        PagedEndpoint endpoint{base_url_, std::string("/v1/organization/usage/") + name, q.str(), "page",
                               "next_page"};
        pager_.for_each_page(request_, endpoint, [&](const JsonRef &root) {
            RowBatch<UsageRow> rows(sink);
            for_each_result(root, [&](const JsonRef &r, int64_t start, int64_t end) {
                rows.add(parse_usage(r, name, start, end));
            });
            rows.flush();
        });
    }

    std::string base_url_;
    int page_buckets_;
    Pager pager_;
    HttpRequest request_;  // provider name and auth header; the page loop fills in the URL
};

}  // namespace

ProviderInfo openai_provider_info() {
    return {kName, kDefaultBaseUrl,
            [](const AccountConfig &config, HttpTransport &http) -> std::unique_ptr<Provider> {
                return std::make_unique<OpenAi>(config, http);
            }};
}

}  // namespace aispend::core
