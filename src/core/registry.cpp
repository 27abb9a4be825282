// The provider registry. Adding a provider: one .cpp defining <name>_provider_info() and one line below.
#include "core/provider.hpp"

namespace aispend::core {

ProviderInfo openai_provider_info();
ProviderInfo anthropic_provider_info();
ProviderInfo openrouter_provider_info();

const std::vector<ProviderInfo> &provider_registry() {
    static const std::vector<ProviderInfo> registry{
        openai_provider_info(),
        anthropic_provider_info(),
        openrouter_provider_info(),
    };
    return registry;
}

const ProviderInfo *find_provider(const std::string &name) {
    for (const ProviderInfo &info : provider_registry()) {
        if (info.name == name) return &info;
    }
    return nullptr;
}

std::string provider_names() {
    std::string names;
    for (const ProviderInfo &info : provider_registry()) {
        if (!names.empty()) names += ", ";
        names += info.name;
    }
    return names;
}

}  // namespace aispend::core
