// Builds the HTTP transport for an account, wired to PostgreSQL's interrupts, latch and settings.
#pragma once

#include <memory>

#include "core/account_options.hpp"
#include "core/http.hpp"

namespace aispend::pg {

std::unique_ptr<core::HttpTransport> make_transport(const core::ServerSettings &settings);

}  // namespace aispend::pg
