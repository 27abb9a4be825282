// aispend._post_webhook(url, body): one delivery of an alert, its retries included. Every delivery failure
// comes back as a row (the SQL side keeps the delivery log and retries across runs); only a cancel or
// interrupt (statement_timeout, pg_cancel_backend) and out-of-memory raise. The URL is a secret (a webhook
// URL's path is its token): nothing this file returns or logs holds more of it than scheme, host and port.
#include "pg/pg_headers.hpp"

#include <cstring>
#include <optional>
#include <string>

#include "core/errors.hpp"
#include "core/http.hpp"
#include "core/utf8.hpp"
#include "pg/guard.hpp"
#include "pg/http_glue.hpp"
#include "pg/settings.hpp"

namespace {

using namespace aispend;

// One delivery: connect 5 s, 10 s per attempt, at most 3 retries, 30 s in all (waits between them included).
constexpr long kConnectTimeoutMs = 5000;
constexpr long kAttemptTimeoutMs = 10000;
constexpr int kMaxRetries = 3;
constexpr long kTotalDeadlineMs = 30000;
constexpr size_t kMaxResponseBytes = 64u << 10;  // only the status matters: the rest of an answer is not read

struct Outcome {
    long http_status = 0;  // 0: no response (NULL)
    long attempts = 0;
    std::optional<std::string> error;  // NULL on success
};

core::HttpOptions webhook_options() {
    core::HttpOptions options;
    pg::wire_to_backend(options);
    options.connect_timeout_ms = kConnectTimeoutMs;
    options.request_timeout_ms = kAttemptTimeoutMs;
    options.max_retries = kMaxRetries;
    options.total_deadline_ms = kTotalDeadlineMs;
    options.max_body_bytes = kMaxResponseBytes;
    options.body_cap_fails = false;
    options.hosts = pg::webhook_host_policy();
    // The report names the URL's origin only; the statement, which may hold the URL, is not logged with it.
    options.on_retry = [](const std::string &what) {
        pg::pg_call([&] { ereport(DEBUG1, (errhidestmt(true), errmsg("aispend: %s", what.c_str()))); });
    };
    return options;
}

std::string text_arg(FunctionCallInfo fcinfo, int n) {
    text *value = pg::pg_call([&] { return PG_GETARG_TEXT_PP(n); });
    return std::string(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
}

// The body in UTF-8 (the encoding of JSON) whatever the database's; nullopt when a character has no UTF-8
// form or the text is not valid in the database encoding (SQL_ASCII).
std::optional<std::string> utf8_body(FunctionCallInfo fcinfo) {
    text *value = pg::pg_call([&] { return PG_GETARG_TEXT_PP(1); });
    const char *data = VARDATA_ANY(value);
    const int length = static_cast<int>(VARSIZE_ANY_EXHDR(value));
    try {
        const char *utf8 = pg::pg_call([&] { return pg_server_to_any(data, length, PG_UTF8); });
        return std::string(utf8, utf8 == data ? static_cast<size_t>(length) : std::strlen(utf8));
    } catch (const pg::PgError &e) {
        // Only the conversion's own failures, which leave nothing behind to clean up, are a delivery result.
        const int code = e.edata()->sqlerrcode;
        if (code != ERRCODE_UNTRANSLATABLE_CHARACTER && code != ERRCODE_CHARACTER_NOT_IN_REPERTOIRE) throw;
    }
    return std::nullopt;
}

// Writes what libcurl said about a failed connection (masked by the core) to the server log only.
void log_diagnostic(const core::ProviderError &error) {
    const std::string &diagnostic = error.details().diagnostic;
    if (diagnostic.empty()) return;
    const std::string text = core::clip_text(diagnostic, 300);
    pg::pg_call([&] {
        ereport(LOG_SERVER_ONLY, (errhidestmt(true), errmsg("aispend webhook POST %s: %s",
                                                            error.details().endpoint.c_str(), text.c_str())));
    });
}

Outcome deliver(const std::string &url, const std::string &body) {
    core::HttpRequest request;
    request.url = url;
    request.body = body;
    request.content_type = "application/json";
    request.provider = "webhook";
    request.url_is_secret = true;
    core::CurlTransport transport(webhook_options());
    Outcome outcome;
    std::optional<core::ProviderError> failure;
    try {
        outcome.http_status = transport.post(request).status;
    } catch (const core::ProviderError &e) {
        if (e.kind() == core::ProviderError::Kind::Cancelled) throw;  // raised as the interrupt's own error
        failure = e;
    }
    outcome.attempts = transport.stats().requests;
    if (failure) {
        outcome.http_status = failure->details().http_status;
        outcome.error = failure->reason();
        log_diagnostic(*failure);
    }
    return outcome;
}

}  // namespace

// (http_status, attempts, error) of one delivery.
AISPEND_FUNCTION(aispend_post_webhook) {
    const std::string url = text_arg(fcinfo, 0);
    Outcome outcome;
    if (std::optional<std::string> body = utf8_body(fcinfo)) {
        outcome = deliver(url, *body);
    } else {
        outcome.error = "the body has characters that cannot be converted to UTF-8";
    }
    // Pointers only: no C++ object may be created inside pg_call, where an error longjmps past destructors.
    const Outcome *result = &outcome;
    return pg::pg_call([&] {
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "aispend._post_webhook must return a record");
        desc = BlessTupleDesc(desc);
        Datum values[3];
        bool nulls[3];
        nulls[0] = result->http_status == 0;
        values[0] = Int32GetDatum(static_cast<int32>(result->http_status));
        nulls[1] = false;
        values[1] = Int32GetDatum(static_cast<int32>(result->attempts));
        nulls[2] = !result->error;
        values[2] = nulls[2] ? (Datum)0
                             : PointerGetDatum(cstring_to_text_with_len(
                                   result->error->data(), static_cast<int>(result->error->size())));
        return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
    });
}
