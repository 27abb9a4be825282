// libFuzzer harness for the JSON layer alone: parse, then read every value with every typed getter.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/decimal.hpp"
#include "core/json.hpp"
#include "core/timeutil.hpp"

using namespace aispend::core;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view text(reinterpret_cast<const char *>(data), size);
    try {
        cents_to_dollars(text);
    } catch (const std::invalid_argument &) {
    }
    try {
        plain_decimal(text);
    } catch (const std::invalid_argument &) {
    }
    if (auto t = parse_rfc3339(text)) format_rfc3339(*t);
    try {
        JsonDoc doc(text, JsonSource{"fuzz", "/fuzz", 200});
        JsonRef root = doc.root();
        for (const char *key : {"a", "data", "value", "has_more", "next_page"}) {
            for (auto get : {+[](const JsonRef &r, const char *k) { r.opt_str(k); },
                             +[](const JsonRef &r, const char *k) { r.opt_int(k); },
                             +[](const JsonRef &r, const char *k) { r.opt_bool(k); },
                             +[](const JsonRef &r, const char *k) { r.opt_decimal(k); },
                             +[](const JsonRef &r, const char *k) { r.at(k)[0].as_decimal(); }}) {
                try {
                    get(root, key);
                } catch (const ProviderError &) {
                }
            }
        }
    } catch (const ProviderError &) {
    }
    return 0;
}
