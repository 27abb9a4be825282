// aispend._fetch_*: the set-returning functions the sync procedure reads provider data through.
// Each fetches every page and appends its rows to a tuplestore (which spills to disk), so backend memory
// holds one page at a time whatever the window length.
#include "pg/pg_headers.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/provider.hpp"
#include "core/redact.hpp"
#include "pg/account.hpp"
#include "pg/guard.hpp"
#include "pg/http_glue.hpp"
#include "pg/provider_errors.hpp"
#include "pg/row_writer.hpp"

namespace {

using namespace aispend;

core::HttpStats last_stats;  // trivially constructible: counters of the latest fetch in this session

// State of one call: the tuplestore, a per-page memory context, and the provider client.
class FetchCall {
  public:
    FetchCall(FunctionCallInfo fcinfo, MemoryContext page_context, const std::string &account)
        : rsinfo_(reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo)),
          page_context_(page_context),
          account_(pg::resolve_account(account, true)),
          transport_(pg::make_transport(account_.settings)) {
        const core::ProviderInfo *info = core::find_provider(account_.settings.provider);
        if (info == nullptr)
            throw pg::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                               "aispend account \"" + account + "\" has unknown provider \"" +
                                   account_.settings.provider + "\"",
                               "", "Valid providers are: " + core::provider_names() + ".");
        core::AccountConfig config{
            account,
            info->name,
            account_.settings.base_url.empty() ? info->default_base_url : account_.settings.base_url,
            account_.admin_key,
            account_.settings.page_buckets,
            pg::fetch_limits(account_.settings)};
        provider_ = info->make(config, *transport_);
    }
    ~FetchCall() { last_stats = transport_->stats(); }  // also on failure: sync_runs records the attempts

    // Runs one provider call; a provider failure becomes an error naming this account, with every echo of
    // the key masked (and what libcurl said about a failed connection in the server log only).
    template <typename Call>
    void run(Call call) {
        std::optional<core::ProviderError> failure;
        try {
            call(*provider_);
        } catch (const core::ProviderError &e) {
            if (e.kind() == core::ProviderError::Kind::Cancelled) throw;
            failure = e;
        }
        if (!failure) return;
        const core::Redactor redactor({account_.admin_key});
        pg::log_diagnostic(account_.name, *failure, redactor);
        throw pg::account_error(account_.name, *failure, redactor);
    }
    const std::string &account() const { return account_.name; }

    // Appends one page: write(RowWriter&, const Row&) per row (false: the row is left out), in a memory
    // context reset after the page.
    template <typename Row, typename WriteRow>
    void put_page(const std::vector<Row> &rows, WriteRow write) {
        if (pg::interrupt_pending()) throw pg::Interrupted();
        pg::pg_call([&] {
            MemoryContext old = MemoryContextSwitchTo(page_context_);
            pg::RowWriter writer(rsinfo_);
            for (const Row &row : rows) {
                if (write(writer, row)) writer.end_row();
            }
            MemoryContextSwitchTo(old);
            MemoryContextReset(page_context_);
        });
    }

  private:
    ReturnSetInfo *rsinfo_;
    MemoryContext page_context_;
    pg::ResolvedAccount account_;
    std::unique_ptr<core::HttpTransport> transport_;
    std::unique_ptr<core::Provider> provider_;
};

// PostgreSQL-side setup done before any C++ object exists: the tuplestore and the page context.
MemoryContext begin_srf(FunctionCallInfo fcinfo) {
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    return AllocSetContextCreate(CurrentMemoryContext, "aispend fetch page", ALLOCSET_DEFAULT_SIZES);
}

core::Window window_arg(FunctionCallInfo fcinfo, const char *width) {
    core::Window window;
    window.start = timestamptz_to_time_t(PG_GETARG_TIMESTAMPTZ(1));
    window.end = timestamptz_to_time_t(PG_GETARG_TIMESTAMPTZ(2));
    window.bucket_width = width;
    return window;
}

void check_window(const core::Window &window, const std::string &account) {
    long step = window.bucket_width == "1h" ? 3600 : 86400;
    if (window.bucket_width != "1h" && window.bucket_width != "1d")
        throw pg::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                           "invalid bucket width \"" + window.bucket_width + "\"", "",
                           "Valid values are 1d and 1h.");
    if (window.end <= window.start || window.start % step != 0 || window.end % step != 0)
        throw pg::SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                           "account \"" + account + "\": window must be non-empty and aligned to " +
                               window.bucket_width + " buckets in UTC",
                           "",
                           "Use date_trunc('day', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' for 1d buckets.");
}

// Row layouts: one per SQL function, in the column order its RETURNS TABLE declares; false leaves the row
// out.
bool write_workspace(pg::RowWriter &w, const core::Workspace &r) {
    // An install not updated yet (no is_default column) would store the default workspace twice, under its
    // real id beside the '(default)' of the reports: it gets the workspaces it always got.
    if (r.is_default && w.declared_columns() < 6) return false;
    w.text(r.id);
    w.text(r.name);
    w.text(r.status);
    w.timestamp(r.created_at);
    w.timestamp(r.archived_at);
    if (w.declares_more()) w.boolean(r.is_default);  // a newer column: older declarations lack it
    return true;
}

bool write_api_key(pg::RowWriter &w, const core::ApiKey &r) {
    w.text(r.id);
    w.text(r.name);
    w.text(r.hint);
    w.text(r.status);
    w.text(r.workspace_id);
    w.text(r.owner);
    w.timestamp(r.created_at);
    w.timestamp(r.last_used_at);
    return true;
}

bool write_usage(pg::RowWriter &w, const core::UsageRow &r) {
    w.text(r.endpoint);
    w.timestamp(r.bucket_start);
    w.timestamp(r.bucket_end);
    w.text(r.workspace_id);
    w.text(r.api_key_id);
    w.text(r.model);
    w.text(r.service_tier);
    w.boolean(r.batch);
    w.text(r.context_window);
    w.text(r.inference_geo);
    w.bigint(r.uncached_input_tokens);
    w.bigint(r.cache_read_tokens);
    w.bigint(r.cache_write_5m_tokens);
    w.bigint(r.cache_write_1h_tokens);
    w.bigint(r.output_tokens);
    w.bigint(r.input_audio_tokens);
    w.bigint(r.output_audio_tokens);
    w.bigint(r.input_image_tokens);
    w.bigint(r.output_image_tokens);
    w.bigint(r.requests);
    w.bigint(r.web_search_requests);
    return true;
}

bool write_cost(pg::RowWriter &w, const core::CostRow &r) {
    w.timestamp(r.bucket_start);
    w.timestamp(r.bucket_end);
    w.text(r.workspace_id);
    w.text(r.api_key_id);
    w.text(r.line_item);
    w.text(r.model);
    w.text(r.token_type);
    w.text(r.service_tier);
    w.text(r.context_window);
    w.text(r.cost_type);
    w.text(r.inference_geo);
    w.numeric(r.amount_usd);
    w.text(r.currency);
    w.numeric(r.quantity);
    w.text(r.quantity_unit);
    if (w.declares_more()) w.text(r.token_class);  // a newer column: older declarations lack it
    return true;
}

// The body every fetch function shares: set up the result, call the provider, append each page as it comes.
template <typename Row, typename Fetch>
Datum fetch_rows(FunctionCallInfo fcinfo, const std::string &account, Fetch fetch,
                 bool (*write)(pg::RowWriter &, const Row &)) {
    MemoryContext page = pg::pg_call([&] { return begin_srf(fcinfo); });
    FetchCall call(fcinfo, page, account);
    call.run([&](core::Provider &provider) {
        fetch(provider, [&](std::vector<Row> &&rows) { call.put_page(rows, write); });
    });
    return (Datum)0;
}

}  // namespace

AISPEND_FUNCTION(aispend_fetch_workspaces) {
    return fetch_rows<core::Workspace>(
        fcinfo, NameStr(*PG_GETARG_NAME(0)),
        [](core::Provider &p, const core::PageSink<core::Workspace> &sink) { p.list_workspaces(sink); },
        write_workspace);
}

AISPEND_FUNCTION(aispend_fetch_api_keys) {
    return fetch_rows<core::ApiKey>(
        fcinfo, NameStr(*PG_GETARG_NAME(0)),
        [](core::Provider &p, const core::PageSink<core::ApiKey> &sink) { p.list_api_keys(sink); },
        write_api_key);
}

AISPEND_FUNCTION(aispend_fetch_usage) {
    std::string account = NameStr(*PG_GETARG_NAME(0));
    char *width = pg::pg_call([&] { return text_to_cstring(PG_GETARG_TEXT_PP(3)); });
    core::Window window = window_arg(fcinfo, width);
    check_window(window, account);
    return fetch_rows<core::UsageRow>(
        fcinfo, account,
        [&](core::Provider &p, const core::PageSink<core::UsageRow> &sink) { p.fetch_usage(window, sink); },
        write_usage);
}

AISPEND_FUNCTION(aispend_fetch_costs) {
    std::string account = NameStr(*PG_GETARG_NAME(0));
    core::Window window = window_arg(fcinfo, "1d");
    check_window(window, account);
    return fetch_rows<core::CostRow>(
        fcinfo, account,
        [&](core::Provider &p, const core::PageSink<core::CostRow> &sink) { p.fetch_costs(window, sink); },
        write_cost);
}

AISPEND_FUNCTION(aispend_last_fetch_stats) {
    core::HttpStats stats = last_stats;
    pg::pg_call([&] {
        InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
        auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
        Datum values[3] = {Int64GetDatum(stats.requests), Int64GetDatum(stats.retries),
                           Int64GetDatum(stats.bytes)};
        bool nulls[3] = {false, false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    });
    return (Datum)0;
}
