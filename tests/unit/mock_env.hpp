// Where the mock providers server listens: AISPEND_MOCK_URL (http://127.0.0.1:PORT), set by the test harness.
#pragma once

#include <cstdlib>
#include <string>

namespace aispend::test {

// The mock's base URL without a trailing slash, or "" when the harness did not start one.
inline std::string mock_url() {
    const char *url = std::getenv("AISPEND_MOCK_URL");
    std::string base = url != nullptr ? url : "";
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base;
}

}  // namespace aispend::test
