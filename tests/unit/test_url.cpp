// The base-URL rules and the host allow-list (src/core/url_policy.cpp), and the base URL's API root.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/paging.hpp"
#include "core/redact.hpp"
#include "core/url_policy.hpp"

using namespace aispend::core;

namespace {

HostPolicy providers() {
    return HostPolicy{{"api.openai.com", "api.anthropic.com"}, false};
}

HostPolicy loopback_too() {
    HostPolicy policy = providers();
    policy.allow_loopback = true;
    return policy;
}

// The reason check_base_url gives, or "" when the URL is allowed.
std::string refusal(const std::string &url, const HostPolicy &policy = providers()) {
    std::string why;
    return check_base_url(url, policy, &why) ? "" : why;
}

}  // namespace

TEST(Url, ProviderHostsAllowedByDefault) {
    for (const char *url : {"https://api.openai.com", "https://api.anthropic.com/",
                            "HTTPS://API.OpenAI.com/v1", "https://api.openai.com:443/"}) {
        EXPECT_EQ(refusal(url), "") << url;
    }
}

TEST(Url, OtherHostsRefusedNamingTheSetting) {
    EXPECT_EQ(refusal("https://10.0.0.1"), "host 10.0.0.1 is not in aispend.allowed_hosts");
    EXPECT_EQ(refusal("https://169.254.169.254/latest"),
              "host 169.254.169.254 is not in aispend.allowed_hosts");
    EXPECT_EQ(refusal("https://api.openai.com:8443"),
              "host api.openai.com:8443 is not in aispend.allowed_hosts");
    EXPECT_EQ(refusal("https://api.openai.com.evil.com"),
              "host api.openai.com.evil.com is not in aispend.allowed_hosts");
    EXPECT_EQ(refusal("https://[2001:db8::1]:443/v1"),
              "host [2001:db8::1]:443 is not in aispend.allowed_hosts");
    EXPECT_EQ(refusal("https://internal"), "host internal is not in aispend.allowed_hosts");
}

TEST(Url, LoopbackOnlyWhenAllowed) {
    const std::string off =
        "loopback addresses are allowed only when a superuser sets aispend.allow_loopback";
    for (const char *url :
         {"http://127.0.0.1:8080/v1", "http://127.1.2.3", "https://localhost/x", "http://LOCALHOST:1/",
          "http://[::1]:18080/mock/fault=429/v1", "http://[0:0::1]/"}) {
        EXPECT_EQ(refusal(url), off) << url;
        EXPECT_EQ(refusal(url, loopback_too()), "") << url;
    }
}

TEST(Url, OtherSpellingsOfLoopbackAreOrdinaryHosts) {
    // not loopback by our reading, so http is refused and https needs the allow-list
    EXPECT_EQ(refusal("http://0177.0.0.1/", loopback_too()),
              "plain http:// is allowed only to loopback; use https://");
    EXPECT_EQ(refusal("https://127.1/", loopback_too()), "host 127.1 is not in aispend.allowed_hosts");
    EXPECT_EQ(refusal("https://localhost.evil.com/", loopback_too()),
              "host localhost.evil.com is not in aispend.allowed_hosts");
    EXPECT_EQ(refusal("http://[::2]/", loopback_too()),
              "plain http:// is allowed only to loopback; use https://");
}

TEST(Url, PlainHttpOnlyToLoopback) {
    EXPECT_EQ(refusal("http://api.openai.com"), "plain http:// is allowed only to loopback; use https://");
    HostPolicy policy = loopback_too();
    bool allow_http = true;
    std::string why;
    EXPECT_TRUE(check_request_url("https://api.openai.com/v1/x?a=b", policy, &allow_http, &why));
    EXPECT_FALSE(allow_http);
    EXPECT_TRUE(check_request_url("http://127.0.0.1:9/v1/x?a=b", policy, &allow_http, &why));
    EXPECT_TRUE(allow_http);
    EXPECT_FALSE(check_request_url("http://127.0.0.1:9/v1/x?a=b", providers(), &allow_http, &why));
    EXPECT_FALSE(allow_http);
}

TEST(Url, EntriesWithPortsAndWildcards) {
    HostPolicy policy{{"gateway.example.com:8443", "*.corp.example", "[2001:db8::1]:9443"}, false};
    EXPECT_EQ(refusal("https://gateway.example.com:8443/openai", policy), "");
    EXPECT_NE(refusal("https://gateway.example.com/openai", policy), "");
    EXPECT_EQ(refusal("https://llm.corp.example/", policy), "");
    EXPECT_EQ(refusal("https://a.b.corp.example/", policy), "");
    EXPECT_NE(refusal("https://corp.example/", policy), "");
    EXPECT_NE(refusal("https://evilcorp.example/", policy), "");
    EXPECT_NE(refusal("https://llm.corp.example:8443/", policy), "");
    EXPECT_EQ(refusal("https://[2001:db8::1]:9443/", policy), "");
}

TEST(Url, ParsesHostLists) {
    std::vector<std::string> hosts;
    std::string why;
    ASSERT_TRUE(parse_host_list(" api.openai.com, API.Anthropic.com ,, gw.example:8443, *.corp.example ",
                                &hosts, &why));
    EXPECT_EQ(hosts, (std::vector<std::string>{"api.openai.com", "api.anthropic.com", "gw.example:8443",
                                               "*.corp.example"}));
    ASSERT_TRUE(parse_host_list("", &hosts, &why));
    EXPECT_TRUE(hosts.empty());
    EXPECT_FALSE(parse_host_list("api.openai.com, https://x.example/", &hosts, &why));
    EXPECT_EQ(why, "\"https://x.example/\" is not a host, host:port or *.domain");
    EXPECT_FALSE(parse_host_list("a.example:99999", &hosts, &why));
    EXPECT_FALSE(parse_host_list("user@a.example", &hosts, &why));
}

TEST(Url, RefusalsNameThePolicysSetting) {
    HostPolicy webhooks{{"hooks.slack.com", "*.webhook.office.com"}, false, "aispend.webhook_hosts"};
    EXPECT_EQ(refusal("https://api.openai.com/", webhooks),
              "host api.openai.com is not in aispend.webhook_hosts");
    EXPECT_EQ(refusal("https://x.webhook.office.com/", webhooks), "");
}

TEST(Url, LengthLimit) {
    const std::string base = "https://api.openai.com/";
    EXPECT_EQ(refusal(base + std::string(kMaxBaseUrlLength - base.size(), 'a')), "");
    EXPECT_EQ(refusal(base + std::string(kMaxBaseUrlLength - base.size() + 1, 'a')),
              "the URL is longer than 512 characters");
}

// A refusal names at most the host: never credentials, a path, a query or text that is not a URL.
TEST(Url, RefusalsEchoAtMostTheHost) {
    for (const char *url :
         {"https://user:sk-admin-SECRET@api.openai.com", "https://api.openai.com/v1?key=sk-admin-SECRET",
          "https://x.example/sk-admin-SECRET", "sk-admin-SECRET", "http://x.example/sk-admin-SECRET"}) {
        std::string why = refusal(url);
        EXPECT_NE(why, "") << url;
        EXPECT_EQ(why.find("SECRET"), std::string::npos) << why;
    }
}

TEST(Url, RefusesOtherSchemes) {
    for (const char *url : {"ftp://127.0.0.1/", "file:///etc/passwd", "gopher://localhost/"}) {
        EXPECT_EQ(refusal(url, loopback_too()), "the scheme must be https") << url;
    }
    EXPECT_EQ(refusal("api.openai.com"), "the URL must start with https://");
    EXPECT_EQ(refusal(""), "the URL must start with https://");
}

TEST(Url, RefusesCredentialsQueryAndFragment) {
    EXPECT_EQ(refusal("https://user:pw@api.openai.com"),
              "the URL must not carry credentials (user:password@)");
    EXPECT_EQ(refusal("https://user@api.openai.com/v1"),
              "the URL must not carry credentials (user:password@)");
    EXPECT_EQ(refusal("https://api.openai.com/v1?key=x"), "a base URL must not have a query string");
    EXPECT_EQ(refusal("https://api.openai.com/v1#top"), "a base URL must not have a fragment");
}

TEST(Url, RefusesMalformedAuthorities) {
    EXPECT_EQ(refusal("https://"), "the URL has no valid host name");
    EXPECT_EQ(refusal("https://:443/"), "the URL has no valid host name");
    EXPECT_EQ(refusal("https://api.openai.com:0/"), "the port must be a number from 1 to 65535");
    EXPECT_EQ(refusal("https://api.openai.com:65536/"), "the port must be a number from 1 to 65535");
    EXPECT_EQ(refusal("https://api.openai.com:/"), "the port must be a number from 1 to 65535");
    EXPECT_EQ(refusal("https://[::1/"), "the IPv6 address is missing its closing ]");
    EXPECT_EQ(refusal("https://[zz::1]/"), "the host is not a valid IPv6 address");
    EXPECT_EQ(refusal("https://api.open%61i.com/"), "the URL has no valid host name");
    const std::string spaces =
        "the URL must not contain spaces, control characters, non-ASCII or backslashes";
    EXPECT_EQ(refusal("https://api.openai.com /v1"), spaces);
    EXPECT_EQ(refusal("http://127.0.0.1\\@evil.com/"), spaces);
    EXPECT_EQ(refusal("https://api.openai.com/\xc3\xa9"), spaces);
    EXPECT_FALSE(check_base_url("ftp://x", providers(), nullptr));
}

// A base URL written the way the providers' SDKs write it must not become ".../v1/v1/..." (a 404).
TEST(Url, ApiRootDropsOneTrailingVersion) {
    EXPECT_EQ(api_root("https://api.openai.com"), "https://api.openai.com");
    EXPECT_EQ(api_root("https://api.openai.com/"), "https://api.openai.com");
    EXPECT_EQ(api_root("https://api.openai.com/v1"), "https://api.openai.com");
    EXPECT_EQ(api_root("https://api.openai.com/v1/"), "https://api.openai.com");
    EXPECT_EQ(api_root("https://api.anthropic.com//v1//"), "https://api.anthropic.com");
    EXPECT_EQ(api_root("http://127.0.0.1:8080/mock/fault=none/v1"), "http://127.0.0.1:8080/mock/fault=none");
    EXPECT_EQ(api_root("https://proxy.example.com/v1/v1"), "https://proxy.example.com/v1");
    EXPECT_EQ(api_root("https://proxy.example.com/v10"), "https://proxy.example.com/v10");
    EXPECT_EQ(api_root("https://proxy.example.com/openai-v1"), "https://proxy.example.com/openai-v1");
    EXPECT_EQ(api_root("https://v1"), "https://v1");  // a host named v1 is no path
    EXPECT_EQ(api_root(""), "");
}

TEST(Url, MessagesNameTheUrlWithoutCredentialsQueryOrFragment) {
    EXPECT_EQ(url_for_messages("https://api.openai.com/v1/organization/costs?start_time=1&page=abc"),
              "https://api.openai.com/v1/organization/costs");
    EXPECT_EQ(url_for_messages("http://[::1]:8080/mock/fault=none/v1/x#frag"),
              "http://[::1]:8080/mock/fault=none/v1/x");
    EXPECT_EQ(url_for_messages("HTTPS://API.Anthropic.com:443/v1/organizations/workspaces"),
              "https://api.anthropic.com:443/v1/organizations/workspaces");
    EXPECT_EQ(url_for_messages("https://api.openai.com?x=1"), "https://api.openai.com");
    EXPECT_EQ(url_for_messages("https://user:sk-admin-SECRET@api.openai.com/v1"), "");
    EXPECT_EQ(url_for_messages("sk-admin-SECRET"), "");
    EXPECT_EQ(url_for_messages("https://api.openai.com/v1 x"), "");
}

// A URL that is a secret (a webhook's) is named by its origin only.
TEST(Url, SecretUrlsAreNamedByTheirOrigin) {
    EXPECT_EQ(origin_for_messages("https://hooks.slack.com/services/T0/B0/XXXX?a=b#c"),
              "https://hooks.slack.com");
    EXPECT_EQ(origin_for_messages("HTTP://127.0.0.1:8080/hook"), "http://127.0.0.1:8080");
    EXPECT_EQ(origin_for_messages("https://[::1]:8443"), "https://[::1]:8443");
    EXPECT_EQ(origin_for_messages("https://user:pw@hooks.slack.com/services/x"), "");
    EXPECT_EQ(origin_for_messages("not a url /services/x"), "");
}

TEST(Url, SecretUrlParts) {
    EXPECT_EQ(url_secret_parts("https://hooks.slack.com/services/T0SECRET/B0S/xoxToken42?thread=abcd#frag"),
              (std::vector<std::string>{"services/T0SECRET/B0S/xoxToken42?thread=abcd#frag", "services",
                                        "T0SECRET", "xoxToken42", "thread", "abcd", "frag"}));
    EXPECT_EQ(url_secret_parts("https://discord.com/api/webhooks/123456/tok-en_1"),
              (std::vector<std::string>{"api/webhooks/123456/tok-en_1", "webhooks", "123456", "tok-en_1"}));
    EXPECT_TRUE(url_secret_parts("https://hooks.slack.com").empty());
    EXPECT_TRUE(url_secret_parts("https://hooks.slack.com/").empty());
    EXPECT_EQ(url_secret_parts("no url"), (std::vector<std::string>{"no url"}));
}

// Whatever might echo such a URL (libcurl's explanations) is masked with these parts.
TEST(Url, SecretUrlPartsMaskEchoes) {
    const std::string url =
        "https://hooks.slack.com/services/T0SECRET1/B0SECRET2/xoxWebhookToken42?k=qsecret99";
    const Redactor redactor(url_secret_parts(url));
    const std::string text =
        redactor.apply("at " + url + ", then XOXWEBHOOKTOKEN42, B0SECRET2/, 'WebhookToken42' and qsecret99");
    for (const char *part : {"SECRET", "secret", "Token42", "TOKEN42", "services"})
        EXPECT_EQ(text.find(part), std::string::npos) << text;
    EXPECT_EQ(text.rfind("at https://hooks.slack.com/[redacted]", 0), 0u) << text;
}
