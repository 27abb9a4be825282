#include "core/timeutil.hpp"

#include <cstdio>

namespace aispend::core {

namespace {

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, any year).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t &y, unsigned &m, unsigned &d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

bool leap(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(int64_t y, unsigned m) {
    static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly n digits at pos.
bool digits(std::string_view s, size_t &pos, size_t n, unsigned &out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (size_t i = 0; i < n; ++i) {
        char c = s[pos + i];
        if (c < '0' || c > '9') return false;
        out = out * 10 + static_cast<unsigned>(c - '0');
    }
    pos += n;
    return true;
}

bool expect(std::string_view s, size_t &pos, char a, char b = 0) {
    if (pos >= s.size() || (s[pos] != a && (b == 0 || s[pos] != b))) return false;
    ++pos;
    return true;
}

}  // namespace

std::optional<UnixSeconds> parse_rfc3339(std::string_view s) {
    size_t p = 0;
    unsigned year, month, day, hour, minute, second;
    if (!digits(s, p, 4, year) || !expect(s, p, '-') || !digits(s, p, 2, month) || !expect(s, p, '-') ||
        !digits(s, p, 2, day) || !expect(s, p, 'T', 't') || !digits(s, p, 2, hour) || !expect(s, p, ':') ||
        !digits(s, p, 2, minute) || !expect(s, p, ':') || !digits(s, p, 2, second)) {
        return std::nullopt;
    }
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
        second > 60) {
        return std::nullopt;
    }
    if (p < s.size() && s[p] == '.') {
        size_t start = ++p;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9') ++p;
        if (p == start) return std::nullopt;
    }
    int64_t offset = 0;
    if (expect(s, p, 'Z', 'z')) {
    } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
        int sign = s[p++] == '-' ? -1 : 1;
        unsigned oh, om;
        if (!digits(s, p, 2, oh) || !expect(s, p, ':') || !digits(s, p, 2, om) || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset = sign * static_cast<int64_t>(oh * 3600 + om * 60);
    } else {
        return std::nullopt;
    }
    if (p != s.size()) return std::nullopt;
    int64_t days = days_from_civil(year, month, day);
    return days * 86400 + static_cast<int64_t>(hour) * 3600 + static_cast<int64_t>(minute) * 60 + second -
           offset;
}

std::string format_rfc3339(UnixSeconds t) {
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t secs = t - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, y, m, d);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(y), m, d,
                  static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                  static_cast<long long>(secs % 60));
    return buf;
}

}  // namespace aispend::core
