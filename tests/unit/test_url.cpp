#include <gtest/gtest.h>

#include <string>

#include "core/http.hpp"

using namespace aispend::core;

namespace {
// The reason is_allowed_base_url gives, or "" when the URL is allowed.
std::string refusal(const std::string &url) {
    std::string why;
    return is_allowed_base_url(url, &why) ? "" : why;
}
}  // namespace

TEST(Url, LoopbackHosts) {
    for (const char *url :
         {"http://127.0.0.1:8080/v1", "http://127.1.2.3", "https://localhost/x?a=b", "http://LOCALHOST:1/",
          "http://[::1]:18080/mock/fault=429/v1", "http://[0:0::1]/"}) {
        EXPECT_TRUE(is_loopback_url(url)) << url;
    }
    for (const char *url : {"http://128.0.0.1/", "http://127.0.0.1.evil.com/", "http://localhost.evil.com/",
                            "http://127.0.0.1@evil.com/", "http://evil.com#@127.0.0.1/", "http://[::2]/",
                            "http://0177.0.0.1/", "http://127.1/", "ftp://127.0.0.1/", "127.0.0.1:80"}) {
        EXPECT_FALSE(is_loopback_url(url)) << url;
    }
}

TEST(Url, HttpsAnywhere) {
    for (const char *url :
         {"https://api.openai.com", "https://api.anthropic.com/", "HTTPS://proxy.example:8443/openai",
          "https://[2001:db8::1]:443/v1", "https://10.0.0.1"}) {
        EXPECT_EQ(refusal(url), "") << url;
    }
}

TEST(Url, HttpOnlyToLoopback) {
    EXPECT_EQ(refusal("http://127.0.0.1:18080"), "");
    EXPECT_EQ(refusal("http://localhost:18080/mock/fault=429;count=1"), "");
    EXPECT_EQ(refusal("http://[::1]:18080"), "");
    EXPECT_NE(refusal("http://api.openai.com").find("http:// is allowed only to loopback"),
              std::string::npos);
    EXPECT_NE(refusal("http://10.0.0.1").find("loopback"), std::string::npos);
}

TEST(Url, RefusesOtherSchemes) {
    for (const char *url : {"ftp://127.0.0.1/", "file:///etc/passwd", "gopher://localhost/"}) {
        EXPECT_NE(refusal(url).find("scheme must be https"), std::string::npos) << url;
    }
    EXPECT_NE(refusal("api.openai.com").find("must start with https://"), std::string::npos);
    EXPECT_NE(refusal("").find("must start with https://"), std::string::npos);
}

TEST(Url, RefusesCredentialsQueryAndFragment) {
    EXPECT_NE(refusal("https://user:pw@api.openai.com").find("credentials"), std::string::npos);
    EXPECT_NE(refusal("https://user@api.openai.com/v1").find("credentials"), std::string::npos);
    EXPECT_NE(refusal("https://api.openai.com/v1?key=x").find("query string"), std::string::npos);
    EXPECT_NE(refusal("https://api.openai.com/v1#top").find("fragment"), std::string::npos);
}

TEST(Url, RefusesMalformedAuthorities) {
    EXPECT_NE(refusal("https://").find("host"), std::string::npos);
    EXPECT_NE(refusal("https://:443/").find("host"), std::string::npos);
    EXPECT_NE(refusal("https://api.openai.com:0/").find("port"), std::string::npos);
    EXPECT_NE(refusal("https://api.openai.com:65536/").find("port"), std::string::npos);
    EXPECT_NE(refusal("https://api.openai.com:/").find("port"), std::string::npos);
    EXPECT_NE(refusal("https://[::1/").find("]"), std::string::npos);
    EXPECT_NE(refusal("https://[zz::1]/").find("IPv6"), std::string::npos);
    EXPECT_NE(refusal("https://api.open%61i.com/").find("host"), std::string::npos);
    EXPECT_NE(refusal("https://api.openai.com /v1").find("spaces"), std::string::npos);
    EXPECT_NE(refusal("http://127.0.0.1\\@evil.com/").find("backslashes"), std::string::npos);
    EXPECT_FALSE(is_allowed_base_url("ftp://x", nullptr));
}
