// libFuzzer harness for OpenAI line_item parsing and the token classes: the input is one line item (also
// read as an Anthropic token_type). Any crash, sanitizer report or broken invariant below is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "core/line_item.hpp"
#include "core/token_class.hpp"

using namespace aispend::core;

namespace {

const std::set<std::string> kClasses = {"input",       "cached_input", "cache_write", "output",
                                        "audio_input", "audio_output", "image_input", "image_output",
                                        "tool",        "unrecognised"};

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string text(reinterpret_cast<const char *>(data), size);
    LineItem item = parse_line_item(text);
    check(kClasses.count(item.token_class) == 1);
    if (item.model) {
        check(!item.model->empty() && item.model->find_first_of(" \t\n\r\f\v,|") == std::string::npos);
        check(text.find(*item.model) != std::string::npos);
    }
    if (item.tier)
        check(*item.tier == "batch" || *item.tier == "priority" || *item.tier == "flex" ||
              *item.tier == "scale");
    check(kClasses.count(anthropic_token_class(text, std::nullopt)) == 1);
    return 0;
}
