// libFuzzer harness: the input is served as every page of one provider call (FUZZ_PROVIDER, FUZZ_CALL are
// set by run.sh). Any ProviderError is an acceptable outcome; anything else (crash, other exception,
// sanitizer report, endless paging) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/provider.hpp"
#include "../unit/fake_transport.hpp"

using namespace aispend::core;

namespace {

template <typename T>
PageSink<T> drop() {
    return [](std::vector<T> &&) {};
}

void call(Provider &p) {
    const Window window{1767225600, 1767484800, "1d"};
    const std::string what = FUZZ_CALL;
    if (what == "workspaces") p.list_workspaces(drop<Workspace>());
    if (what == "api_keys") p.list_api_keys(drop<ApiKey>());
    if (what == "usage") p.fetch_usage(window, drop<UsageRow>());
    if (what == "costs") p.fetch_costs(window, drop<CostRow>());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    aispend::test::FakeTransport http;
    http.set_fallback(std::string(reinterpret_cast<const char *>(data), size));
    auto provider =
        find_provider(FUZZ_PROVIDER)->make(AccountConfig{"fuzz", FUZZ_PROVIDER, "", "k", 0, {}}, http);
    try {
        call(*provider);
    } catch (const ProviderError &) {
    }
    return 0;
}
