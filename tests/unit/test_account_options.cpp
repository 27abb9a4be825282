// Option rules of servers and user mappings (src/core/account_options.cpp).
#include <gtest/gtest.h>

#include <string>

#include "core/account_options.hpp"
#include "core/provider.hpp"

using namespace aispend::core;

namespace {

const HostPolicy kProviders{{"api.openai.com", "api.anthropic.com"}, false};

std::optional<OptionProblem> server(const OptionList &options, const HostPolicy &hosts = kProviders) {
    return check_options(OptionContext::Server, options, hosts);
}

std::optional<OptionProblem> mapping(const OptionList &options) {
    return check_options(OptionContext::UserMapping, options, kProviders);
}

}  // namespace

TEST(AccountOptions, BaseUrlMustBeAnAllowedHost) {
    EXPECT_FALSE(server({{"provider", "openai"}, {"base_url", "https://api.openai.com/"}}));
    auto problem = server({{"provider", "openai"}, {"base_url", "https://169.254.169.254/latest"}});
    ASSERT_TRUE(problem);
    EXPECT_EQ(problem->kind, OptionProblem::Kind::BadValue);
    EXPECT_EQ(problem->message, "invalid base_url: host 169.254.169.254 is not in aispend.allowed_hosts");
    problem = server({{"provider", "openai"}, {"base_url", "http://127.0.0.1:8080"}});
    ASSERT_TRUE(problem);
    EXPECT_EQ(
        problem->message,
        "invalid base_url: loopback addresses are allowed only when a superuser sets aispend.allow_loopback");
    EXPECT_FALSE(
        server({{"provider", "openai"}, {"base_url", "http://127.0.0.1:8080"}}, HostPolicy{{}, true}));
    problem =
        server({{"provider", "openai"}, {"base_url", "https://api.openai.com/" + std::string(600, 'a')}});
    ASSERT_TRUE(problem);
    EXPECT_EQ(problem->message, "invalid base_url: the URL is longer than 512 characters");
}

TEST(AccountOptions, FocusIsAnImportedProvider) {
    // A FOCUS billing source is an account whose costs aispend.import_focus loads: no fetcher, no base URL.
    EXPECT_FALSE(server({{"provider", "focus"}}));
    EXPECT_EQ(server_settings({{"provider", "focus"}}).provider, "focus");
    EXPECT_EQ(find_provider("focus"), nullptr);
    auto problem = server({{"provider", "Focus"}});
    ASSERT_TRUE(problem);
    EXPECT_EQ(problem->message, "unknown provider \"Focus\"");
}

TEST(AccountOptions, MaxPages) {
    EXPECT_FALSE(server({{"provider", "openai"}, {"max_pages", "1"}}));
    EXPECT_FALSE(server({{"provider", "openai"}, {"max_pages", "100000"}}));
    auto problem = server({{"provider", "openai"}, {"max_pages", "0"}});
    ASSERT_TRUE(problem);
    EXPECT_EQ(problem->message, "invalid max_pages \"0\"");
    EXPECT_EQ(problem->hint, "max_pages must be a whole number from 1 to 100000.");
    EXPECT_EQ(server_settings({{"provider", "openai"}}).max_pages, 2000);
    EXPECT_EQ(server_settings({{"provider", "openai"}, {"max_pages", "7"}}).max_pages, 7);
}

TEST(AccountOptions, AdminKeyEnvNeedsThePrefixAndIsNeverEchoed) {
    EXPECT_FALSE(mapping({{"admin_key_env", "AISPEND_ADMIN_KEY_ACME"}}));
    for (const char *value :
         {"SECRET_ENV_TOKEN", "HOME", "sk-admin-Zq81xLmP0aQw73NbVcXe", "AISPEND_ADMIN_KEY_"}) {
        auto problem = mapping({{"admin_key_env", value}});
        ASSERT_TRUE(problem) << value;
        EXPECT_EQ(problem->kind, OptionProblem::Kind::BadValue);
        EXPECT_EQ(problem->message,
                  "invalid admin_key_env: not an environment variable name starting with AISPEND_ADMIN_KEY_");
    }
    // a key typed here by mistake is not in the message or the hint
    auto problem = mapping({{"admin_key_env", "sk-admin-Zq81xLmP0aQw73NbVcXe"}});
    ASSERT_TRUE(problem);
    EXPECT_EQ((problem->message + problem->hint).find("Zq81"), std::string::npos);
}
