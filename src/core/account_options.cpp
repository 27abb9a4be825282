// Option rules for accounts: names, types and ranges, with hints that list what is valid.
#include "core/account_options.hpp"

#include <cctype>
#include <cstdlib>

#include "core/env_key.hpp"
#include "core/provider.hpp"

namespace aispend::core {
namespace {

struct IntRule {
    const char *name;
    long min;
    long max;
};

constexpr IntRule kIntRules[] = {
    {"backfill_days", 1, 3650}, {"resync_days", 0, 365},  {"timeout_ms", 100, 600000},
    {"max_retries", 0, 20},     {"page_buckets", 1, 180}, {"max_pages", 1, 100000},
};

const char *const kServerNames =
    "provider, base_url, backfill_days, resync_days, bucket_width, timeout_ms, max_retries, page_buckets, "
    "max_pages";
// The provider of accounts whose costs are imported from cloud billing exports rather than fetched.
const char *const kImportedProvider = "focus";
const char *const kMappingNames = "admin_key, admin_key_env";

bool parse_int(const std::string &text, long *out) {
    if (text.empty() || text.size() > 12) return false;
    size_t i = (text[0] == '-' || text[0] == '+') ? 1 : 0;
    if (i == text.size()) return false;
    for (size_t j = i; j < text.size(); ++j)
        if (!std::isdigit(static_cast<unsigned char>(text[j]))) return false;
    *out = std::strtol(text.c_str(), nullptr, 10);
    return true;
}

OptionProblem unknown(const std::string &name, const char *context, const char *valid) {
    return {OptionProblem::Kind::UnknownName, "invalid option \"" + name + "\" for " + context,
            std::string("Valid options in this context are: ") + valid + "."};
}

std::optional<OptionProblem> check_server_option(const std::string &name, const std::string &value,
                                                 const HostPolicy &hosts) {
    if (name == "provider") {
        // 'focus': an account loaded from FOCUS exports (aispend.import_focus), never fetched.
        if (value == kImportedProvider) return std::nullopt;
        if (find_provider(value) == nullptr)
            return OptionProblem{OptionProblem::Kind::BadValue, "unknown provider \"" + value + "\"",
                                 "Valid providers are: " + provider_names() + "."};
        return std::nullopt;
    }
    if (name == "base_url") {
        std::string why;
        if (!check_base_url(value, hosts, &why))
            return OptionProblem{OptionProblem::Kind::BadValue, "invalid base_url: " + why,
                                 "Use https://host[:port][/path] with a host a superuser allows in "
                                 "aispend.allowed_hosts (default: the providers' API hosts); loopback and "
                                 "plain http:// only when a superuser sets aispend.allow_loopback."};
        return std::nullopt;
    }
    if (name == "bucket_width") {
        if (value != "1d" && value != "1h")
            return OptionProblem{OptionProblem::Kind::BadValue, "invalid bucket_width \"" + value + "\"",
                                 "Valid values are 1d and 1h."};
        return std::nullopt;
    }
    for (const IntRule &rule : kIntRules) {
        if (name != rule.name) continue;
        long number = 0;
        if (!parse_int(value, &number) || number < rule.min || number > rule.max)
            return OptionProblem{OptionProblem::Kind::BadValue, "invalid " + name + " \"" + value + "\"",
                                 name + " must be a whole number from " + std::to_string(rule.min) + " to " +
                                     std::to_string(rule.max) + "."};
        return std::nullopt;
    }
    if (name == "admin_key" || name == "admin_key_env")
        return OptionProblem{OptionProblem::Kind::UnknownName,
                             "option \"" + name + "\" is not allowed on a server",
                             "Admin keys belong in a user mapping, whose options other roles cannot read: "
                             "CREATE USER MAPPING FOR CURRENT_USER SERVER <account> OPTIONS (" +
                                 name + " '...')."};
    return unknown(name, "an aispend server", kServerNames);
}

std::optional<OptionProblem> check_mapping(const OptionList &options) {
    int keys = 0;
    for (const auto &[name, value] : options) {
        if (name == "admin_key") {
            ++keys;
            if (value.empty())
                return OptionProblem{OptionProblem::Kind::BadValue, "option \"admin_key\" must not be empty",
                                     "Give the organization admin key of the provider account."};
        } else if (name == "admin_key_env") {
            ++keys;
            // The value is not echoed: a key pasted here by mistake must not reach the error or the log.
            if (!is_env_key_name(value))
                return OptionProblem{
                    OptionProblem::Kind::BadValue,
                    std::string("invalid admin_key_env: not an environment variable name "
                                "starting with ") +
                        kEnvKeyPrefix,
                    std::string("Name a variable of the server's environment such as ") + kEnvKeyPrefix +
                        "ACME (letters, digits and underscores). If you typed the key itself, "
                        "use OPTIONS (admin_key '...') instead."};
        } else {
            return unknown(name, "an aispend user mapping", kMappingNames);
        }
    }
    if (keys == 0)
        return OptionProblem{
            OptionProblem::Kind::Missing, "an aispend user mapping needs admin_key or admin_key_env",
            "OPTIONS (admin_key '...') stores the key in the catalog; OPTIONS (admin_key_env "
            "'NAME') reads it from the server's environment."};
    if (keys > 1)
        return OptionProblem{
            OptionProblem::Kind::Conflict, "give exactly one of admin_key and admin_key_env",
            "Drop one of them with OPTIONS (DROP admin_key) or OPTIONS (DROP admin_key_env)."};
    return std::nullopt;
}

}  // namespace

std::optional<OptionProblem> check_options(OptionContext context, const OptionList &options,
                                           const HostPolicy &hosts) {
    switch (context) {
        case OptionContext::Wrapper:
            if (!options.empty())
                return OptionProblem{
                    OptionProblem::Kind::UnknownName,
                    "invalid option \"" + options.front().first + "\" for the aispend wrapper",
                    "The foreign-data wrapper takes no options; set them on each server."};
            return std::nullopt;
        case OptionContext::UserMapping:
            return check_mapping(options);
        case OptionContext::Server:
            break;
    }
    bool has_provider = false;
    for (const auto &[name, value] : options) {
        if (auto problem = check_server_option(name, value, hosts)) return problem;
        has_provider = has_provider || name == "provider";
    }
    if (!has_provider)
        return OptionProblem{
            OptionProblem::Kind::Missing, "an aispend server needs the option \"provider\"",
            "Valid providers are: " + provider_names() + ". Example: OPTIONS (provider 'openai')."};
    return std::nullopt;
}

ServerSettings server_settings(const OptionList &options) {
    ServerSettings s;
    for (const auto &[name, value] : options) {
        if (name == "provider")
            s.provider = value;
        else if (name == "base_url")
            s.base_url = value;
        else if (name == "bucket_width")
            s.bucket_width = value;
        else if (name == "backfill_days")
            s.backfill_days = std::atoi(value.c_str());
        else if (name == "resync_days")
            s.resync_days = std::atoi(value.c_str());
        else if (name == "timeout_ms")
            s.timeout_ms = std::atoi(value.c_str());
        else if (name == "max_retries")
            s.max_retries = std::atoi(value.c_str());
        else if (name == "page_buckets")
            s.page_buckets = std::atoi(value.c_str());
        else if (name == "max_pages")
            s.max_pages = std::atoi(value.c_str());
    }
    return s;
}

}  // namespace aispend::core
