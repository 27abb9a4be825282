// aispend's own SQLSTATE class "AS" (see docs/internals.md for the table).
#pragma once

#include "pg/pg_headers.hpp"

namespace aispend::pg {

constexpr int kErrInternal = MAKE_SQLSTATE('A', 'S', '0', '0', '0');
constexpr int kErrProviderHttp = MAKE_SQLSTATE('A', 'S', '0', '0', '1');
constexpr int kErrProviderAuth = MAKE_SQLSTATE('A', 'S', '0', '0', '2');
constexpr int kErrProviderParse = MAKE_SQLSTATE('A', 'S', '0', '0', '3');
constexpr int kErrProviderNetwork = MAKE_SQLSTATE('A', 'S', '0', '0', '4');
constexpr int kErrProviderRateLimited = MAKE_SQLSTATE('A', 'S', '0', '0', '5');
constexpr int kErrProviderTooLarge = MAKE_SQLSTATE('A', 'S', '0', '0', '6');
constexpr int kErrProviderCursorLoop = MAKE_SQLSTATE('A', 'S', '0', '0', '7');
constexpr int kErrProviderPageLimit = MAKE_SQLSTATE('A', 'S', '0', '0', '8');

}  // namespace aispend::pg
