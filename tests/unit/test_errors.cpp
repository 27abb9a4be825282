#include <gtest/gtest.h>

#include <string>

#include "core/errors.hpp"

using namespace aispend::core;
using Kind = ProviderError::Kind;

namespace {
ProviderError::Details details(Kind kind, const std::string &provider, const std::string &endpoint) {
    ProviderError::Details d;
    d.kind = kind;
    d.provider = provider;
    d.endpoint = endpoint;
    return d;
}
}  // namespace

TEST(Errors, HttpStatusWithProviderTypeAndMessage) {
    auto d = details(Kind::Auth, "openai", "https://api.openai.com/v1/organization/costs");
    d.http_status = 401;
    d.provider_type = "authentication_error";
    d.provider_message = "Incorrect API key provided";
    ProviderError e(d);
    EXPECT_STREQ(e.what(),
                 "openai GET https://api.openai.com/v1/organization/costs: HTTP 401 authentication_error: "
                 "Incorrect API key provided "
                 "(after 0 retries)");
    EXPECT_EQ(e.kind(), Kind::Auth);
    EXPECT_EQ(e.details().http_status, 401);
}

TEST(Errors, NetworkFailureNamesCurlError) {
    auto d = details(Kind::Network, "anthropic", "https://api.anthropic.com/v1/organizations/cost_report");
    d.detail = "Failed to connect to 127.0.0.1 port 1: Connection refused";
    d.retries = 3;
    EXPECT_STREQ(ProviderError(d).what(),
                 "anthropic GET https://api.anthropic.com/v1/organizations/cost_report: connection failed: "
                 "Failed to connect to 127.0.0.1 "
                 "port 1: Connection refused (after 3 retries)");
}

TEST(Errors, StatusWithoutProviderBodyAndWithDetail) {
    auto d = details(Kind::RateLimited, "openai", "https://api.openai.com/v1/organization/projects");
    d.http_status = 429;
    d.retries = 1;
    d.detail = "Retry-After 120 s would pass the total deadline (900 ms left)";
    EXPECT_STREQ(ProviderError(d).what(),
                 "openai GET https://api.openai.com/v1/organization/projects: HTTP 429; Retry-After 120 s "
                 "would pass the total deadline "
                 "(900 ms left) (after 1 retry)");
}

TEST(Errors, ParseAndConfigErrorsDoNotCountRetries) {
    auto parse = details(Kind::Parse, "openai", "https://api.openai.com/v1/organization/costs");
    parse.detail = "data[0].amount.value: expected a number";
    EXPECT_STREQ(ProviderError(parse).what(),
                 "openai GET https://api.openai.com/v1/organization/costs: unexpected response: "
                 "data[0].amount.value: expected a number");
    auto config = details(Kind::Config, "mistral", "");
    config.detail = "unknown provider";
    EXPECT_STREQ(ProviderError(config).what(), "mistral: bad configuration: unknown provider");
}

TEST(Errors, OtherKinds) {
    EXPECT_STREQ(ProviderError(details(Kind::Cancelled, "openai", "/v1/x")).what(),
                 "openai GET /v1/x: cancelled (after 0 retries)");
    auto timeout = details(Kind::Timeout, "anthropic", "/v1/y");
    timeout.detail = "Operation timed out after 300 milliseconds with 0 bytes received";
    timeout.retries = 2;
    EXPECT_STREQ(
        ProviderError(timeout).what(),
        "anthropic GET /v1/y: timed out: Operation timed out after 300 milliseconds with 0 bytes received "
        "(after 2 retries)");
}

TEST(Errors, MethodAndReason) {
    auto d = details(Kind::Http, "webhook", "https://hooks.slack.com");
    d.method = "POST";
    d.http_status = 500;
    d.retries = 3;
    ProviderError e(d);
    EXPECT_STREQ(e.what(), "webhook POST https://hooks.slack.com: HTTP 500 (after 3 retries)");
    EXPECT_EQ(e.reason(), "HTTP 500 (after 3 retries)");
    auto config = details(Kind::Config, "webhook", "");
    config.detail = "refused to connect: the scheme must be https";
    EXPECT_EQ(ProviderError(config).reason(),
              "bad configuration: refused to connect: the scheme must be https");
}

TEST(Errors, KindNames) {
    EXPECT_STREQ(kind_name(Kind::Config), "config");
    EXPECT_STREQ(kind_name(Kind::Network), "network");
    EXPECT_STREQ(kind_name(Kind::Timeout), "timeout");
    EXPECT_STREQ(kind_name(Kind::Http), "http");
    EXPECT_STREQ(kind_name(Kind::Auth), "auth");
    EXPECT_STREQ(kind_name(Kind::RateLimited), "rate_limited");
    EXPECT_STREQ(kind_name(Kind::Parse), "parse");
    EXPECT_STREQ(kind_name(Kind::BodyTooLarge), "body_too_large");
    EXPECT_STREQ(kind_name(Kind::CursorLoop), "cursor_loop");
    EXPECT_STREQ(kind_name(Kind::Cancelled), "cancelled");
}
