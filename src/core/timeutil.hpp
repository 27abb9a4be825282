// RFC 3339 <-> Unix seconds in UTC, by calendar arithmetic (no locale, TZ or mktime).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/records.hpp"

namespace aispend::core {

// "2025-08-01T00:00:00Z", "2024-10-30T23:58:27.427722Z", "2025-08-01T02:00:00+02:00" -> seconds since the
// epoch (fractions truncated toward the earlier second); nullopt when the text is not RFC 3339.
std::optional<UnixSeconds> parse_rfc3339(std::string_view text);

// Seconds since the epoch -> "YYYY-MM-DDTHH:MM:SSZ".
std::string format_rfc3339(UnixSeconds t);

}  // namespace aispend::core
