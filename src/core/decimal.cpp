#include "core/decimal.hpp"

#include <stdexcept>

#include "core/utf8.hpp"

namespace aispend::core {

namespace {

constexpr long kMaxExponent = 1000;  // larger shifts are nonsense for money and would allocate a lot

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

size_t digit_run(std::string_view s, size_t i) {
    while (i < s.size() && is_digit(s[i])) ++i;
    return i;
}

// At most 40 characters of the text, as valid UTF-8 (it may come from a provider's JSON string).
std::string quoted_prefix(std::string_view s) {
    return "\"" + clip_text(s.substr(0, 160), 40) + "\"";
}

// Places a decimal point so that `point` digits of `digits` are before it (point may be <= 0 or > size).
std::string place_point(bool negative, const std::string &digits, long point) {
    std::string out;
    if (point <= 0) {
        out = "0." + std::string(static_cast<size_t>(-point), '0') + digits;
    } else if (static_cast<size_t>(point) >= digits.size()) {
        out = digits + std::string(static_cast<size_t>(point) - digits.size(), '0');
    } else {
        out = digits.substr(0, point) + "." + digits.substr(point);
    }
    size_t lead = 0;  // leading zeros of the integer part, keeping one before the point
    while (lead + 1 < out.size() && out[lead] == '0' && out[lead + 1] != '.') ++lead;
    out.erase(0, lead);
    return negative ? "-" + out : out;
}

}  // namespace

std::string plain_decimal(std::string_view s) {
    size_t i = 0;
    bool negative = i < s.size() && s[i] == '-';
    if (negative) ++i;
    size_t int_begin = i, int_end = digit_run(s, i);
    bool ok = int_end > int_begin && (s[int_begin] != '0' || int_end == int_begin + 1);
    size_t frac_begin = int_end, frac_end = int_end;
    if (ok && frac_begin < s.size() && s[frac_begin] == '.') {
        frac_begin += 1;
        frac_end = digit_run(s, frac_begin);
        ok = frac_end > frac_begin;
    }
    i = frac_end;
    if (!ok) throw std::invalid_argument("not a JSON number: " + quoted_prefix(s));
    if (i == s.size()) return std::string(s);
    if (s[i] != 'e' && s[i] != 'E') throw std::invalid_argument("not a JSON number: " + quoted_prefix(s));
    ++i;
    bool exp_negative = i < s.size() && s[i] == '-';
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_end = digit_run(s, i);
    if (exp_end == i || exp_end != s.size())
        throw std::invalid_argument("not a JSON number: " + quoted_prefix(s));
    long exponent = 0;
    for (; i < exp_end; ++i) {
        exponent = exponent * 10 + (s[i] - '0');
        if (exponent > kMaxExponent)
            throw std::invalid_argument("number exponent out of range: " + quoted_prefix(s));
    }
    if (exp_negative) exponent = -exponent;
    std::string digits(s.substr(int_begin, int_end - int_begin));
    digits.append(s.substr(frac_begin, frac_end - frac_begin));
    return place_point(negative, digits, static_cast<long>(int_end - int_begin) + exponent);
}

std::string cents_to_dollars(std::string_view s) {
    size_t i = 0;
    bool negative = i < s.size() && s[i] == '-';
    if (negative) ++i;
    size_t int_begin = i, int_end = digit_run(s, i);
    size_t frac_begin = int_end, frac_end = int_end;
    bool ok = int_end > int_begin;
    if (ok && int_end < s.size() && s[int_end] == '.') {
        frac_begin = int_end + 1;
        frac_end = digit_run(s, frac_begin);
        ok = frac_end > frac_begin;
    }
    if (!ok || frac_end != s.size()) {
        throw std::invalid_argument("invalid cents amount " + quoted_prefix(s) +
                                    ": expected a decimal string such as \"123.45\"");
    }
    std::string digits(s.substr(int_begin, int_end - int_begin));
    digits.append(s.substr(frac_begin, frac_end - frac_begin));
    std::string out = place_point(negative, digits, static_cast<long>(int_end - int_begin) - 2);
    if (out.find('.') != std::string::npos) {
        while (out.back() == '0') out.pop_back();
        if (out.back() == '.') out.pop_back();
    }
    if (out == "-0") out = "0";
    return out;
}

}  // namespace aispend::core
