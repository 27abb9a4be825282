// Rules for the options of aispend servers (accounts) and user mappings. Pure C++, used by the validator.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/url_policy.hpp"

namespace aispend::core {

enum class OptionContext { Wrapper, Server, UserMapping };

struct OptionProblem {
    enum class Kind { UnknownName, BadValue, Missing, Conflict } kind;
    std::string message;  // never contains a secret value
    std::string hint;
};

using OptionList = std::vector<std::pair<std::string, std::string>>;

// The first problem with a complete option list for one catalog object, or nullopt when it is valid. A
// base_url must be allowed by `hosts` (the superuser's aispend.allowed_hosts and aispend.allow_loopback).
std::optional<OptionProblem> check_options(OptionContext context, const OptionList &options,
                                           const HostPolicy &hosts);

// Settings of one account after validation, with defaults filled in.
struct ServerSettings {
    std::string provider;
    std::string base_url;  // empty: provider default
    int backfill_days = 90;
    int resync_days = 3;
    std::string bucket_width = "1d";
    int timeout_ms = 60000;
    int max_retries = 5;
    int page_buckets = 0;  // 0: the provider's maximum
    int max_pages = 2000;  // pages one provider call (one sync step) may fetch
};

// Reads validated server options (unknown names are ignored here: the validator rejected them already).
ServerSettings server_settings(const OptionList &options);

}  // namespace aispend::core
