// How a provider failure (core::ProviderError) is reported in SQL: its SQLSTATE and hint.
#pragma once

#include <string>

#include "core/errors.hpp"
#include "core/redact.hpp"
#include "pg/guard.hpp"

namespace aispend::pg {

int sqlstate_for(core::ProviderError::Kind kind) noexcept;
const char *hint_for(core::ProviderError::Kind kind) noexcept;  // nullptr when there is nothing to add

// The SqlError for a provider failure of one account: "aispend account "x": <what happened>", with every
// echo of the account's key masked.
SqlError account_error(const std::string &account, const core::ProviderError &error,
                       const core::Redactor &redactor);

// Writes the failure's diagnostic (libcurl's explanation of a failed connection) to the server log only,
// never to the client: it would tell a closed port from an open one that is not a provider.
void log_diagnostic(const std::string &account, const core::ProviderError &error,
                    const core::Redactor &redactor);

}  // namespace aispend::pg
