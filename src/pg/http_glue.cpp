// HTTP transport and fetch limits wiring: settings, cancellation from QueryCancelPending, latch waits,
// cleanup at backend exit.
#include "pg/pg_headers.hpp"

#include "pg/guard.hpp"
#include "pg/http_glue.hpp"
#include "pg/settings.hpp"

namespace aispend::pg {
namespace {

void cleanup_at_exit(int, Datum) {
    core::http_global_cleanup();
}

// Sleeps between retries in 100 ms steps on the latch, returning early when an interrupt is pending.
void interruptible_wait(long ms) {
    pg_call([ms] {
        long remaining = ms;
        while (remaining > 0 && !interrupt_pending()) {
            long step = remaining < 100 ? remaining : 100;
            (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, step,
                            PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
            remaining -= step;
        }
    });
}

}  // namespace

core::FetchLimits fetch_limits(const core::ServerSettings &settings) {
    core::FetchLimits limits;
    limits.max_pages = settings.max_pages;
    limits.parse.max_parse_bytes = static_cast<size_t>(max_parse_mb) << 20;
    limits.parse.should_cancel = [] { return interrupt_pending(); };
    return limits;
}

void wire_to_backend(core::HttpOptions &options) {
    static bool cleanup_registered = false;
    if (!cleanup_registered) {
        pg_call([] { on_proc_exit(cleanup_at_exit, (Datum)0); });
        cleanup_registered = true;
    }
    options.should_cancel = [] { return interrupt_pending(); };
    options.wait = interruptible_wait;
}

std::unique_ptr<core::HttpTransport> make_transport(const core::ServerSettings &settings) {
    core::HttpOptions options;
    wire_to_backend(options);
    options.request_timeout_ms = settings.timeout_ms;
    options.connect_timeout_ms = settings.timeout_ms < 10000 ? settings.timeout_ms : 10000;
    options.max_retries = settings.max_retries;
    // Every attempt may use its full timeout, plus room for the backoff between them.
    options.total_deadline_ms = static_cast<long>(settings.timeout_ms) * (settings.max_retries + 1) + 120000;
    options.max_body_bytes = static_cast<size_t>(max_response_mb) << 20;
    options.hosts = host_policy();
    options.on_retry = [](const std::string &what) {
        pg_call([&] { elog(DEBUG1, "aispend: %s", what.c_str()); });
    };
    return std::make_unique<core::CurlTransport>(std::move(options));
}

}  // namespace aispend::pg
