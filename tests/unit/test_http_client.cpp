// CurlTransport against the mock providers server (AISPEND_MOCK_URL) and against nothing at all.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/http.hpp"
#include "core/utf8.hpp"
#include "mock_env.hpp"

using namespace aispend::core;
using Kind = ProviderError::Kind;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char *kOpenAiKey = "sk-admin-test-openai";
constexpr const char *kOpenAiProjects = "/v1/organization/projects";

// Small limits so that failing tests fail fast; waits are recorded instead of slept.
struct Client {
    std::vector<long> waits;
    HttpOptions options;
    Client() {
        options.connect_timeout_ms = 1000;
        options.request_timeout_ms = 2000;
        options.total_deadline_ms = 10000;
        options.max_retries = 3;
        options.backoff_base_ms = 10;
        options.backoff_max_ms = 40;
        options.wait = [this](long ms) { waits.push_back(ms); };
        options.hosts.allow_loopback = true;  // the mock providers listen on 127.0.0.1
    }
};

HttpRequest openai_projects(const std::string &base, const std::string &key = kOpenAiKey) {
    HttpRequest request;
    request.url = base + kOpenAiProjects + "?limit=2";
    request.headers = {{"Accept", "application/json"}};
    request.secret_headers = {{"Authorization", "Bearer " + key}};
    request.provider = "openai";
    return request;
}

// Runs get() expecting a ProviderError, and returns it.
ProviderError get_error(CurlTransport &transport, const HttpRequest &request) {
    try {
        transport.get(request);
    } catch (const ProviderError &e) {
        return e;
    }
    ADD_FAILURE() << "get() succeeded";
    return ProviderError({});
}

long ms_since(Clock::time_point start) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

class MockHttp : public testing::Test {
  protected:
    void SetUp() override {
        base_ = aispend::test::mock_url();
        if (base_.empty()) GTEST_SKIP() << "AISPEND_MOCK_URL is not set: start tests/mock/mock_providers.py";
    }
    // A base URL that makes the mock inject faults, with a fresh tag so that fault counts start at 0.
    std::string faulty(const std::string &options) const {
        const auto *test = testing::UnitTest::GetInstance()->current_test_info();
        return base_ + "/mock/" + options + ";tag=" + test->name() +
               std::to_string(Clock::now().time_since_epoch().count());
    }
    std::string base_;
};

}  // namespace

TEST_F(MockHttp, OpenAiSucceedsWithLowerCasedHeaders) {
    Client c;
    CurlTransport transport(c.options);
    HttpResponse response = transport.get(openai_projects(base_));
    EXPECT_EQ(response.status, 200);
    EXPECT_NE(response.body.find("\"data\""), std::string::npos);
    EXPECT_EQ(response.headers.count("content-type"), 1u);
    EXPECT_EQ(transport.stats().requests, 1);
    EXPECT_EQ(transport.stats().retries, 0);
    EXPECT_EQ(transport.stats().bytes, static_cast<long>(response.body.size()));
}

TEST_F(MockHttp, AnthropicSucceeds) {
    Client c;
    CurlTransport transport(c.options);
    HttpRequest request;
    request.url = base_ + "/v1/organizations/workspaces?limit=2";
    request.headers = {{"anthropic-version", "2023-06-01"}};
    request.secret_headers = {{"x-api-key", "sk-ant-admin01-test"}};
    request.provider = "anthropic";
    EXPECT_EQ(transport.get(request).status, 200);
}

TEST_F(MockHttp, RetryAfterIsHonoured) {
    Client c;
    CurlTransport transport(c.options);
    HttpResponse response = transport.get(openai_projects(faulty("fault=429;retry_after=1;count=2")));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(c.waits, (std::vector<long>{1000, 1000}));
    EXPECT_EQ(transport.stats().requests, 3);
    EXPECT_EQ(transport.stats().retries, 2);
}

TEST_F(MockHttp, RateLimitBoundedByMaxRetries) {
    Client c;
    c.options.max_retries = 2;
    CurlTransport transport(c.options);
    ProviderError e = get_error(transport, openai_projects(faulty("fault=429;retry_after=1")));
    EXPECT_EQ(e.kind(), Kind::RateLimited);
    EXPECT_EQ(e.details().http_status, 429);
    EXPECT_EQ(e.details().retries, 2);
    EXPECT_EQ(c.waits, (std::vector<long>{1000, 1000}));
    EXPECT_EQ(transport.stats().requests, 3);
    EXPECT_NE(std::string(e.what()).find("HTTP 429"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(after 2 retries)"), std::string::npos) << e.what();
}

TEST_F(MockHttp, RetryAfterBeyondTheDeadlineFailsAtOnce) {
    Client c;
    c.options.total_deadline_ms = 3000;
    CurlTransport transport(c.options);
    ProviderError e = get_error(transport, openai_projects(faulty("fault=429;retry_after=5")));
    EXPECT_EQ(e.kind(), Kind::RateLimited);
    EXPECT_TRUE(c.waits.empty());
    EXPECT_EQ(transport.stats().requests, 1);
    EXPECT_NE(e.details().detail.find("Retry-After 5 s"), std::string::npos) << e.what();
}

TEST_F(MockHttp, ServerErrorsRetriedThenSuccess) {
    for (const char *fault : {"500", "503", "529"}) {
        Client c;
        c.options.wait = nullptr;  // the default wait really sleeps (at most 40 ms here)
        CurlTransport transport(c.options);
        EXPECT_EQ(transport.get(openai_projects(faulty(std::string("count=2;fault=") + fault))).status, 200);
        EXPECT_EQ(transport.stats().retries, 2) << fault;
        EXPECT_EQ(transport.stats().requests, 3) << fault;
    }
}

TEST_F(MockHttp, ServerErrorBeyondTheBudget) {
    Client c;
    c.options.max_retries = 2;
    CurlTransport transport(c.options);
    const std::string base = faulty("fault=500");
    ProviderError e = get_error(transport, openai_projects(base));
    EXPECT_EQ(e.kind(), Kind::Http);
    EXPECT_EQ(e.details().http_status, 500);
    EXPECT_EQ(e.details().retries, 2);
    ASSERT_EQ(c.waits.size(), 2u);
    for (long ms : c.waits) EXPECT_LE(ms, 40);
    EXPECT_NE(std::string(e.what()).find("openai GET " + base + kOpenAiProjects + ": HTTP 500"),
              std::string::npos)
        << e.what();
}

TEST_F(MockHttp, EachRetryIsReportedWithoutTheKey) {
    Client c;
    c.options.max_retries = 2;
    std::vector<std::string> reports;
    c.options.on_retry = [&](const std::string &what) { reports.push_back(what); };
    CurlTransport transport(c.options);
    const std::string base = faulty("fault=503;retry_after=1");
    get_error(transport, openai_projects(base));
    ASSERT_EQ(reports.size(), 2u);
    EXPECT_EQ(reports[0].rfind("openai GET " + base + kOpenAiProjects + ": HTTP 503", 0), 0u) << reports[0];
    EXPECT_NE(reports[0].find("; retry 1 of 2 in 1000 ms"), std::string::npos) << reports[0];
    EXPECT_NE(reports[1].find("; retry 2 of 2 in 1000 ms"), std::string::npos) << reports[1];
    for (const std::string &r : reports) EXPECT_EQ(r.find("sk-admin"), std::string::npos) << r;
}

TEST_F(MockHttp, AuthFailuresAreNotRetried) {
    for (const char *fault : {"401", "403"}) {
        Client c;
        CurlTransport transport(c.options);
        ProviderError e = get_error(transport, openai_projects(faulty(std::string("fault=") + fault)));
        EXPECT_EQ(e.kind(), Kind::Auth) << fault;
        EXPECT_EQ(e.details().http_status, std::stol(fault));
        EXPECT_FALSE(e.details().provider_message.empty()) << e.what();
        EXPECT_EQ(transport.stats().requests, 1);
        EXPECT_TRUE(c.waits.empty());
    }
}

TEST_F(MockHttp, WrongKeyNeverAppearsInTheMessage) {
    Client c;
    CurlTransport transport(c.options);
    const std::string key = "sk-admin-wrong-key-0123456789";
    ProviderError e = get_error(transport, openai_projects(base_, key));
    EXPECT_EQ(e.kind(), Kind::Auth);
    EXPECT_EQ(std::string(e.what()).find(key), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("limit=2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HTTP 401"), std::string::npos) << e.what();
}

TEST_F(MockHttp, RequestTimeout) {
    Client c;
    c.options.request_timeout_ms = 300;
    c.options.max_retries = 1;
    CurlTransport transport(c.options);
    auto start = Clock::now();
    ProviderError e = get_error(transport, openai_projects(faulty("fault=timeout")));
    EXPECT_EQ(e.kind(), Kind::Timeout);
    EXPECT_EQ(e.details().retries, 1);
    EXPECT_EQ(transport.stats().requests, 2);
    EXPECT_LT(ms_since(start), 1500);
}

TEST_F(MockHttp, BodyCap) {
    Client c;
    c.options.max_body_bytes = 16;
    CurlTransport transport(c.options);
    ProviderError e = get_error(transport, openai_projects(base_));
    EXPECT_EQ(e.kind(), Kind::BodyTooLarge);
    EXPECT_EQ(transport.stats().requests, 1);
    EXPECT_LE(transport.stats().bytes, 16);
}

TEST_F(MockHttp, OversizeFault) {
    Client c;
    c.options.max_body_bytes = 64 * 1024;
    CurlTransport transport(c.options);
    EXPECT_EQ(get_error(transport, openai_projects(faulty("fault=oversize"))).kind(), Kind::BodyTooLarge);
}

TEST_F(MockHttp, ConnectionDropRetried) {
    Client c;
    CurlTransport transport(c.options);
    EXPECT_EQ(transport.get(openai_projects(faulty("fault=drop;count=1"))).status, 200);
    EXPECT_EQ(transport.stats().retries, 1);

    c.options.max_retries = 0;
    CurlTransport no_retries(c.options);
    const std::string base = faulty("fault=drop");
    ProviderError e = get_error(no_retries, openai_projects(base));
    EXPECT_EQ(e.kind(), Kind::Network);
    EXPECT_EQ(e.what(), "openai GET " + base + kOpenAiProjects + ": connection failed (after 0 retries)");
    EXPECT_FALSE(e.details().diagnostic.empty());
}

TEST_F(MockHttp, TruncatedBodyRetried) {
    Client c;
    CurlTransport transport(c.options);
    EXPECT_EQ(transport.get(openai_projects(faulty("fault=truncate;count=1"))).status, 200);
    EXPECT_EQ(transport.stats().retries, 1);
}

TEST_F(MockHttp, CancelledWithinASecond) {
    Client c;
    c.options.request_timeout_ms = 10000;
    auto start = Clock::now();
    c.options.should_cancel = [start] { return ms_since(start) >= 200; };
    CurlTransport transport(c.options);
    ProviderError e = get_error(transport, openai_projects(faulty("fault=slow;delay_ms=5000")));
    EXPECT_EQ(e.kind(), Kind::Cancelled);
    EXPECT_LT(ms_since(start), 1500);
    EXPECT_EQ(transport.stats().requests, 1);
}

TEST(Http, ConnectionRefusedIsRetriedThenNetworkError) {
    Client c;
    c.options.max_retries = 2;
    CurlTransport transport(c.options);
    ProviderError e = get_error(transport, openai_projects("http://127.0.0.1:1"));
    EXPECT_EQ(e.kind(), Kind::Network);
    EXPECT_EQ(e.details().retries, 2);
    EXPECT_EQ(e.details().http_status, 0);
    EXPECT_STREQ(
        e.what(),
        "openai GET http://127.0.0.1:1/v1/organization/projects: connection failed (after 2 retries)");
    EXPECT_NE(e.details().diagnostic.find("127.0.0.1"), std::string::npos) << e.details().diagnostic;
}

TEST(Http, PlainHttpRefusedBeyondLoopback) {
    Client c;
    CurlTransport transport(c.options);
    ProviderError e = get_error(transport, openai_projects("http://api.openai.invalid"));
    EXPECT_EQ(e.kind(), Kind::Config);
    EXPECT_EQ(transport.stats().requests, 0);
    EXPECT_STREQ(
        e.what(),
        "openai GET http://api.openai.invalid/v1/organization/projects: bad configuration: refused to "
        "connect: plain http:// is "
        "allowed only to loopback; use https://");
}

// The allow-list is checked before anything is sent: a refused host is never contacted.
TEST(Http, HostsOutsideTheAllowListAreNeverContacted) {
    Client c;
    c.options.hosts = HostPolicy{{"api.openai.com"}, false};
    CurlTransport transport(c.options);
    for (const char *base : {"https://10.255.255.1", "https://169.254.169.254", "http://127.0.0.1:1"}) {
        ProviderError e = get_error(transport, openai_projects(base));
        EXPECT_EQ(e.kind(), Kind::Config) << base;
    }
    EXPECT_EQ(transport.stats().requests, 0);
    ProviderError e = get_error(transport, openai_projects("https://10.255.255.1"));
    EXPECT_STREQ(
        e.what(),
        "openai GET https://10.255.255.1/v1/organization/projects: bad configuration: refused to connect: "
        "host 10.255.255.1 "
        "is not in aispend.allowed_hosts");
}

// Messages name the URL without its query string, and never a URL that carries credentials.
TEST(Http, MessagesNameTheUrlWithoutQueryOrCredentials) {
    Client c;
    c.options.hosts = HostPolicy{{"api.openai.com"}, false};
    CurlTransport transport(c.options);
    ProviderError e = get_error(transport, openai_projects("https://user:sk-admin-SECRET@api.openai.com"));
    EXPECT_EQ(e.kind(), Kind::Config);
    EXPECT_STREQ(e.what(),
                 "openai: bad configuration: refused to connect: the URL must not carry credentials "
                 "(user:password@)");
    e = get_error(transport, openai_projects("https://API.example.com:8443/proxy"));
    EXPECT_STREQ(e.what(),
                 "openai GET https://api.example.com:8443/proxy/v1/organization/projects: bad configuration: "
                 "refused to connect: host api.example.com:8443 is not in aispend.allowed_hosts");
    EXPECT_EQ(transport.stats().requests, 0);
}

TEST(Http, CancelledBeforeTheFirstRequest) {
    Client c;
    c.options.should_cancel = [] { return true; };
    CurlTransport transport(c.options);
    EXPECT_EQ(get_error(transport, openai_projects("http://127.0.0.1:1")).kind(), Kind::Cancelled);
    EXPECT_EQ(transport.stats().requests, 0);
}

TEST(Http, HeaderWithLineBreakRefused) {
    Client c;
    CurlTransport transport(c.options);
    ProviderError e = get_error(transport, openai_projects("http://127.0.0.1:1", "sk-x\r\nX-Injected: 1"));
    EXPECT_EQ(e.kind(), Kind::Config);
    EXPECT_EQ(std::string(e.what()).find("sk-x"), std::string::npos) << e.what();
}

TEST_F(MockHttp, CancelledDuringTheWaitBetweenRetries) {
    Client c;
    c.options.wait = nullptr;  // the default wait, which polls should_cancel while it sleeps
    c.options.backoff_base_ms = c.options.backoff_max_ms = 5000;
    c.options.max_retries = 5;
    auto start = Clock::now();
    c.options.should_cancel = [start] { return ms_since(start) >= 100; };
    CurlTransport transport(c.options);
    ProviderError e = get_error(transport, openai_projects(faulty("fault=503")));
    EXPECT_EQ(e.kind(), Kind::Cancelled);
    EXPECT_EQ(e.details().retries, transport.stats().retries);  // the interrupted wait's retry never happened
    EXPECT_LT(ms_since(start), 1000);
}

// Whatever answers (nothing, or a listener that does not speak TLS) the message is the same generic failure;
// libcurl's explanation, which tells them apart, is kept for the server log only.
TEST_F(MockHttp, ClosedPortAndNonTlsListenerLookAlike) {
    Client c;
    c.options.max_retries = 0;
    CurlTransport transport(c.options);
    const std::string open_port = "https" + base_.substr(base_.find(':'));  // the mock speaks plain http
    ProviderError closed = get_error(transport, openai_projects("https://127.0.0.1:1"));
    ProviderError open = get_error(transport, openai_projects(open_port));
    EXPECT_EQ(closed.kind(), Kind::Network);
    EXPECT_EQ(open.kind(), Kind::Network);
    EXPECT_STREQ(
        closed.what(),
        "openai GET https://127.0.0.1:1/v1/organization/projects: connection failed (after 0 retries)");
    EXPECT_EQ(open.what(),
              "openai GET " + open_port + kOpenAiProjects + ": connection failed (after 0 retries)");
    EXPECT_NE(closed.details().diagnostic, open.details().diagnostic);
}

// A body that is not a provider's error format is never echoed.
TEST_F(MockHttp, OtherErrorBodiesAreNotEchoed) {
    Client c;
    CurlTransport transport(c.options);
    const std::string base = base_ + "/mock/fault=nope";  // {"mock_error": ...}
    ProviderError e = get_error(transport, openai_projects(base));
    EXPECT_EQ(e.details().http_status, 400);
    EXPECT_EQ(e.what(), "openai GET " + base + kOpenAiProjects + ": HTTP 400 (after 0 retries)");
}

// A provider that echoes the key it was sent, in any form, has every echo masked.
TEST_F(MockHttp, KeyEchoesAreMasked) {
    for (const std::string key : {"sk-admin-Zq81xLmP0aQw73NbVcXe", "sk-ant-admin01-Hy7TgBv3NcXzQ9aLkPm2"}) {
        Client c;
        CurlTransport transport(c.options);
        HttpRequest request = openai_projects(faulty("fault=keyecho"), key);
        ProviderError e = get_error(transport, request);
        const std::string what = e.what();
        EXPECT_EQ(e.kind(), Kind::Auth);
        for (const std::string &part : {key, key.substr(9, 12), key.substr(key.size() - 8)}) {
            std::string upper = part, lower = part;
            for (char &ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            for (char &ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            EXPECT_EQ(what.find(part), std::string::npos) << what;
            EXPECT_EQ(what.find(upper), std::string::npos) << what;
            EXPECT_EQ(what.find(lower), std::string::npos) << what;
        }
        const std::string end =
            "; b64 [redacted]; header QmVhcmVyIHNr[redacted] (after 0 retries)";  // "Bearer sk"
        EXPECT_EQ(what.substr(what.size() - end.size()), end) << what;
    }
}

// A long multibyte message is cut between characters: the error is valid UTF-8.
TEST_F(MockHttp, MultibyteMessagesAreCutByCharacters) {
    Client c;
    c.options.max_retries = 0;
    CurlTransport transport(c.options);
    const std::string base = faulty("fault=multibyte");
    ProviderError e = get_error(transport, openai_projects(base));
    const std::string what = e.what();
    EXPECT_EQ(valid_utf8(what), what);
    const std::string prefix = "openai GET " + base + kOpenAiProjects + ": HTTP 500 server_error: ";
    const std::string suffix = "... (after 0 retries)";
    ASSERT_EQ(what.rfind(prefix, 0), 0u) << what;
    ASSERT_EQ(what.substr(what.size() - suffix.size()), suffix) << what;
    const std::string message = what.substr(prefix.size(), what.size() - prefix.size() - suffix.size());
    size_t chars = 0;
    for (unsigned char ch : message) chars += (ch & 0xC0) != 0x80;
    EXPECT_EQ(chars, 300u);
    EXPECT_EQ(message.rfind("\xc3\x9c"
                            "berlastung \xe2\x80\x93 ",
                            0),
              0u)
        << message;
}
