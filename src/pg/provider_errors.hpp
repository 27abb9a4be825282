// How a provider failure (core::ProviderError) is reported in SQL: its SQLSTATE and hint.
#pragma once

#include <string>

#include "core/errors.hpp"
#include "pg/guard.hpp"

namespace aispend::pg {

int sqlstate_for(core::ProviderError::Kind kind) noexcept;
const char *hint_for(core::ProviderError::Kind kind) noexcept;  // nullptr when there is nothing to add

// The SqlError for a provider failure of one account: "aispend account "x": <what happened>".
SqlError account_error(const std::string &account, const core::ProviderError &error);

}  // namespace aispend::pg
