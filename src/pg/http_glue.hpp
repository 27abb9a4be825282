// Builds the HTTP transport and fetch limits of an account, wired to PostgreSQL's interrupts, latch and
// settings.
#pragma once

#include <memory>

#include "core/account_options.hpp"
#include "core/http.hpp"
#include "core/paging.hpp"

namespace aispend::pg {

// The transport for one provider call: timeouts and retries from the server options, the body cap and host
// policy from the settings, cancellation and waits from PostgreSQL.
std::unique_ptr<core::HttpTransport> make_transport(const core::ServerSettings &settings);

// Wires transport options to this backend: cancellation from pending interrupts, interruptible waits between
// retries, and the libcurl cleanup at process exit.
void wire_to_backend(core::HttpOptions &options);

// Pages (server option max_pages), parse memory (aispend.max_parse_mb) and cancellation of one call.
core::FetchLimits fetch_limits(const core::ServerSettings &settings);

}  // namespace aispend::pg
