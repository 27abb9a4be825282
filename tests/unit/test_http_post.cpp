// CurlTransport::post against an in-process loopback receiver: webhook deliveries, whose URL is a secret.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "core/http.hpp"
#include "loopback_receiver.hpp"

using namespace aispend::core;
using aispend::test::LoopbackReceiver;
using Kind = ProviderError::Kind;
using Reply = LoopbackReceiver::Reply;
using Clock = std::chrono::steady_clock;

namespace {

Reply answer(int status, std::string body = "ok", std::string headers = {}) {
    return LoopbackReceiver::answer(status, std::move(body), std::move(headers));
}

// A Slack-like webhook path and query: every part of them is a secret.
constexpr const char *kHookPath = "/services/T0SECRET1/B0SECRET2/xoxWebhookToken42";
constexpr const char *kHookQuery = "?thread_key=qsecret99";
const std::vector<std::string> kSecretParts = {kHookPath,           "services",   "T0SECRET1", "B0SECRET2",
                                               "xoxWebhookToken42", "thread_key", "qsecret99"};
constexpr const char *kPayload = R"({"text":"Budget \"prod\" is at 92% of $1,000"})";

// Small limits so that failing tests fail fast; waits are recorded instead of slept; every retry report is
// kept to be checked for the URL.
struct Client {
    std::vector<long> waits;
    std::vector<std::string> reports;
    HttpOptions options;
    Client() {
        options.connect_timeout_ms = 1000;
        options.request_timeout_ms = 2000;
        options.total_deadline_ms = 10000;
        options.max_retries = 3;
        options.backoff_base_ms = 10;
        options.backoff_max_ms = 40;
        options.max_body_bytes = 64u << 10;
        options.body_cap_fails = false;
        options.wait = [this](long ms) { waits.push_back(ms); };
        options.on_retry = [this](const std::string &what) { reports.push_back(what); };
        options.hosts.allow_loopback = true;
        options.hosts.list_name = "aispend.webhook_hosts";
    }
};

HttpRequest hook(const std::string &origin, const std::string &body = kPayload) {
    HttpRequest request;
    request.url = origin + kHookPath + kHookQuery;
    request.body = body;
    request.content_type = "application/json";
    request.provider = "webhook";
    request.url_is_secret = true;
    return request;
}

std::string lowered(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

// Fails the test when any part of the webhook's path or query appears in text, in any case.
void expect_no_url(const std::string &text) {
    for (const std::string &part : kSecretParts)
        EXPECT_EQ(lowered(text).find(lowered(part)), std::string::npos) << "\"" << part << "\" in: " << text;
}

// Runs post() expecting a ProviderError; checks that nothing it or the retry reports say holds the URL.
ProviderError post_error(CurlTransport &transport, const HttpRequest &request, const Client &client) {
    try {
        transport.post(request);
    } catch (const ProviderError &e) {
        expect_no_url(e.what());
        expect_no_url(e.reason());
        expect_no_url(e.details().endpoint);
        expect_no_url(e.details().detail);
        expect_no_url(e.details().diagnostic);
        expect_no_url(e.details().provider_message);
        expect_no_url(e.details().provider_type);
        for (const std::string &report : client.reports) expect_no_url(report);
        return e;
    }
    ADD_FAILURE() << "post() succeeded";
    return ProviderError({});
}

long ms_since(Clock::time_point start) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

}  // namespace

TEST(HttpPost, SendsTheBodyAsJson) {
    LoopbackReceiver receiver({Reply{}});
    Client c;
    CurlTransport transport(c.options);
    HttpResponse response = transport.post(hook(receiver.base()));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "ok");
    EXPECT_FALSE(response.body_cut);
    EXPECT_EQ(transport.stats().requests, 1);
    auto received = receiver.received();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].method, "POST");
    EXPECT_EQ(received[0].target, std::string(kHookPath) + kHookQuery);
    EXPECT_EQ(received[0].body, kPayload);
    EXPECT_NE(received[0].headers.find("content-type: application/json\r\n"), std::string::npos)
        << received[0].headers;
}

// A large body goes at once: no "Expect: 100-continue" wait for an answer that a receiver may never send.
TEST(HttpPost, LargeBodyWithoutExpectContinue) {
    LoopbackReceiver receiver({Reply{}});
    Client c;
    CurlTransport transport(c.options);
    const std::string body = "{\"text\":\"" + std::string(2u << 20, 'x') + "\"}";
    auto start = Clock::now();
    EXPECT_EQ(transport.post(hook(receiver.base(), body)).status, 200);
    EXPECT_LT(ms_since(start), 900);
    auto received = receiver.received();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].body, body);
    EXPECT_EQ(received[0].headers.find("expect:"), std::string::npos) << received[0].headers;
}

// get() shares the code path and sends no body even when the request has one.
TEST(HttpPost, GetSendsNoBody) {
    LoopbackReceiver receiver({Reply{}});
    Client c;
    CurlTransport transport(c.options);
    EXPECT_EQ(transport.get(hook(receiver.base())).status, 200);
    auto received = receiver.received();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].method, "GET");
    EXPECT_EQ(received[0].body, "");
    EXPECT_EQ(received[0].headers.find("content-type:"), std::string::npos) << received[0].headers;
}

TEST(HttpPost, ServerErrorsRetriedThenSuccess) {
    LoopbackReceiver receiver({answer(500), answer(503), answer(200)});
    Client c;
    CurlTransport transport(c.options);
    EXPECT_EQ(transport.post(hook(receiver.base())).status, 200);
    EXPECT_EQ(transport.stats().requests, 3);
    EXPECT_EQ(transport.stats().retries, 2);
    EXPECT_EQ(c.waits.size(), 2u);
    ASSERT_EQ(c.reports.size(), 2u);
    EXPECT_EQ(c.reports[0].rfind("webhook POST " + receiver.base() + ": HTTP 500", 0), 0u) << c.reports[0];
    for (const std::string &report : c.reports) expect_no_url(report);
    for (const auto &request : receiver.received()) EXPECT_EQ(request.body, kPayload);
}

TEST(HttpPost, RetryAfterIsHonoured) {
    LoopbackReceiver receiver({answer(429, "slow down", "Retry-After: 1\r\n"), Reply{}});
    Client c;
    CurlTransport transport(c.options);
    EXPECT_EQ(transport.post(hook(receiver.base())).status, 200);
    EXPECT_EQ(c.waits, (std::vector<long>{1000}));
}

TEST(HttpPost, ServerErrorsBeyondTheRetries) {
    LoopbackReceiver receiver({answer(500, "oops " + std::string(kHookPath))});
    Client c;
    CurlTransport transport(c.options);
    ProviderError e = post_error(transport, hook(receiver.base()), c);
    EXPECT_EQ(e.kind(), Kind::Http);
    EXPECT_EQ(e.details().http_status, 500);
    EXPECT_EQ(e.details().retries, 3);
    EXPECT_EQ(transport.stats().requests, 4);
    EXPECT_EQ(c.reports.size(), 3u);
    EXPECT_EQ(e.what(), "webhook POST " + receiver.base() + ": HTTP 500 (after 3 retries)");
    EXPECT_EQ(e.reason(), "HTTP 500 (after 3 retries)");
}

TEST(HttpPost, NotFoundIsNotRetried) {
    LoopbackReceiver receiver({answer(404, "no_service")});
    Client c;
    CurlTransport transport(c.options);
    ProviderError e = post_error(transport, hook(receiver.base()), c);
    EXPECT_EQ(e.kind(), Kind::Http);
    EXPECT_EQ(e.details().http_status, 404);
    EXPECT_EQ(transport.stats().requests, 1);
    EXPECT_TRUE(c.waits.empty());
    EXPECT_EQ(e.reason(), "HTTP 404 (after 0 retries)");
}

// A receiver's error body is not quoted, even in the providers' format that get() reads.
TEST(HttpPost, ErrorBodiesAreNotQuoted) {
    const std::string body =
        std::string(R"({"error":{"type":"invalid_hook","message":"no hook at )") + kHookPath + R"("}})";
    LoopbackReceiver receiver({answer(400, body)});
    Client c;
    CurlTransport transport(c.options);
    ProviderError e = post_error(transport, hook(receiver.base()), c);
    EXPECT_EQ(e.details().http_status, 400);
    EXPECT_EQ(e.details().provider_message, "");
    EXPECT_EQ(e.reason(), "HTTP 400 (after 0 retries)");
}

// The host policy is checked before anything is sent, and its refusal names the host at most.
TEST(HttpPost, RefusedHostsAreNeverContacted) {
    LoopbackReceiver receiver({Reply{}});
    Client c;
    c.options.hosts.allowed_hosts = {"hooks.slack.com"};
    c.options.hosts.allow_loopback = false;
    CurlTransport transport(c.options);
    ProviderError e = post_error(transport, hook("https://evil.example.com"), c);
    EXPECT_EQ(e.kind(), Kind::Config);
    EXPECT_EQ(e.reason(),
              "bad configuration: refused to connect: host evil.example.com is not in aispend.webhook_hosts");
    e = post_error(transport, hook("http://hooks.slack.com"), c);
    EXPECT_EQ(e.kind(), Kind::Config);
    EXPECT_EQ(
        e.reason(),
        "bad configuration: refused to connect: plain http:// is allowed only to loopback; use https://");
    e = post_error(transport, hook(receiver.base()), c);
    EXPECT_EQ(e.kind(), Kind::Config);
    e = post_error(transport, hook("https://user:pw@hooks.slack.com"), c);
    EXPECT_EQ(e.kind(), Kind::Config);
    EXPECT_EQ(transport.stats().requests, 0);
    EXPECT_TRUE(receiver.received().empty());
}

TEST(HttpPost, ConnectionRefusedIsRetriedThenNetworkError) {
    Client c;
    CurlTransport transport(c.options);
    ProviderError e = post_error(transport, hook("http://127.0.0.1:1"), c);
    EXPECT_EQ(e.kind(), Kind::Network);
    EXPECT_EQ(e.details().http_status, 0);
    EXPECT_EQ(e.details().retries, 3);
    EXPECT_EQ(transport.stats().requests, 4);
    EXPECT_EQ(c.reports.size(), 3u);
    EXPECT_FALSE(e.details().diagnostic.empty());
    EXPECT_STREQ(e.what(), "webhook POST http://127.0.0.1:1: connection failed (after 3 retries)");
}

TEST(HttpPost, ConnectionDroppedIsRetried) {
    Reply drop;
    drop.drop = true;
    LoopbackReceiver receiver({drop, Reply{}});
    Client c;
    CurlTransport transport(c.options);
    EXPECT_EQ(transport.post(hook(receiver.base())).status, 200);
    EXPECT_EQ(transport.stats().requests, 2);
    for (const std::string &report : c.reports) expect_no_url(report);
}

TEST(HttpPost, Timeout) {
    Reply slow;
    slow.delay_ms = 1500;
    LoopbackReceiver receiver({slow});
    Client c;
    c.options.request_timeout_ms = 200;
    c.options.max_retries = 1;
    CurlTransport transport(c.options);
    auto start = Clock::now();
    ProviderError e = post_error(transport, hook(receiver.base()), c);
    EXPECT_EQ(e.kind(), Kind::Timeout);
    EXPECT_EQ(e.details().retries, 1);
    EXPECT_EQ(transport.stats().requests, 2);
    EXPECT_LT(ms_since(start), 1200);
    EXPECT_EQ(e.reason(), "timed out (after 1 retry)");
}

TEST(HttpPost, TotalDeadline) {
    Reply slow;
    slow.delay_ms = 1500;
    LoopbackReceiver receiver({slow});
    Client c;
    c.options.request_timeout_ms = 1000;
    c.options.total_deadline_ms = 300;
    CurlTransport transport(c.options);
    auto start = Clock::now();
    ProviderError e = post_error(transport, hook(receiver.base()), c);
    EXPECT_EQ(e.kind(), Kind::Timeout);
    EXPECT_LT(ms_since(start), 800);
}

// Only the status matters: a large answer is cut at the cap and the response stands.
TEST(HttpPost, LargeResponseIsCut) {
    for (bool no_length : {false, true}) {
        Reply big = answer(200, std::string(1u << 20, 'a'));
        big.no_length = no_length;
        LoopbackReceiver receiver({big});
        Client c;
        CurlTransport transport(c.options);
        HttpResponse response = transport.post(hook(receiver.base()));
        EXPECT_EQ(response.status, 200) << no_length;
        EXPECT_TRUE(response.body_cut) << no_length;
        EXPECT_LE(response.body.size(), c.options.max_body_bytes) << no_length;
        EXPECT_EQ(transport.stats().requests, 1);
    }
}

TEST(HttpPost, LargeResponseFailsWhenTheCapIsAnError) {
    Reply big = answer(200, std::string(1u << 20, 'a'));
    big.no_length = true;
    LoopbackReceiver receiver({big});
    Client c;
    c.options.body_cap_fails = true;
    CurlTransport transport(c.options);
    EXPECT_EQ(post_error(transport, hook(receiver.base()), c).kind(), Kind::BodyTooLarge);
}

TEST(HttpPost, CancelledWhileTheReceiverIsSlow) {
    Reply slow;
    slow.delay_ms = 5000;
    LoopbackReceiver receiver({slow});
    Client c;
    c.options.request_timeout_ms = 10000;
    auto start = Clock::now();
    c.options.should_cancel = [start] { return ms_since(start) >= 200; };
    CurlTransport transport(c.options);
    EXPECT_EQ(post_error(transport, hook(receiver.base()), c).kind(), Kind::Cancelled);
    EXPECT_LT(ms_since(start), 1500);
    EXPECT_EQ(transport.stats().requests, 1);
}

TEST(HttpPost, CancelledBetweenRetries) {
    LoopbackReceiver receiver({answer(503)});
    Client c;
    bool cancelled = false;
    c.options.wait = [&](long) { cancelled = true; };
    c.options.should_cancel = [&] { return cancelled; };
    CurlTransport transport(c.options);
    ProviderError e = post_error(transport, hook(receiver.base()), c);
    EXPECT_EQ(e.kind(), Kind::Cancelled);
    EXPECT_EQ(transport.stats().requests, 1);
}
