// Exact decimal text helpers for money: no value ever passes through a binary floating-point type.
#pragma once

#include <string>
#include <string_view>

namespace aispend::core {

// A JSON number's text as plain decimal: digits kept as sent, an exponent folded into the point position.
// "0.00032195744715549047" stays as is; "1e-5" -> "0.00001"; "2.50E1" -> "25.0".
// Throws std::invalid_argument for text that is not a JSON number or whose exponent is absurd.
std::string plain_decimal(std::string_view json_number);

// Anthropic cost amounts: a decimal string in cents -> the same value in dollars, by moving the point.
// "123.78912" -> "1.2378912", "0.1" -> "0.001", "1500" -> "15", "-250" -> "-2.5".
// Throws std::invalid_argument unless the text is [-]digits[.digits].
std::string cents_to_dollars(std::string_view cents);

}  // namespace aispend::core
