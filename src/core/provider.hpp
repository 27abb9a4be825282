// The provider interface and registry. A third provider is one .cpp file plus one registry line.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/http.hpp"
#include "core/paging.hpp"
#include "core/records.hpp"

namespace aispend::core {

struct AccountConfig {
    std::string account;   // server name, for messages
    std::string provider;  // registry name
    std::string base_url;  // empty: the provider's default
    std::string admin_key;
    int page_buckets = 0;  // buckets per usage/cost page; 0 = the API's maximum
    FetchLimits limits;    // pages per call, parse memory, cancellation
};

template <typename T>
using PageSink = std::function<void(std::vector<T> &&rows)>;  // rows in order, at most RowBatch::kRows a call

class Provider {
  public:
    virtual ~Provider() = default;
    virtual void list_workspaces(const PageSink<Workspace> &sink) = 0;
    virtual void list_api_keys(const PageSink<ApiKey> &sink) = 0;
    virtual void fetch_usage(const Window &window, const PageSink<UsageRow> &sink) = 0;
    virtual void fetch_costs(const Window &window, const PageSink<CostRow> &sink) = 0;
};

struct ProviderInfo {
    std::string name;              // "openai"
    std::string default_base_url;  // "https://api.openai.com"
    std::function<std::unique_ptr<Provider>(const AccountConfig &, HttpTransport &)> make;
};

const std::vector<ProviderInfo> &provider_registry();
const ProviderInfo *find_provider(const std::string &name);  // nullptr when unknown
std::string provider_names();                                // "openai, anthropic" for hints

}  // namespace aispend::core
