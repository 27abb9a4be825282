// OpenRouter provider against canned pages: exact records, exact URLs, offset paging and error paths.
#include <gtest/gtest.h>

#include "core/provider.hpp"
#include "fake_transport.hpp"

using namespace aispend::core;
using aispend::test::FakeTransport;
using aispend::test::fixture;
using aispend::test::Pages;
using aispend::test::provider_error;
using aispend::test::show_all;

namespace {

const std::string kBase = "https://openrouter.ai/api";
const std::string kWorkspaces = kBase + "/v1/workspaces?limit=100";
const std::string kWsDefault = "0df9e665-d932-4d36-a4a7-2f8ac0ee0a01";
const std::string kWsResearch = "7c1b2e1a-55a4-4d1e-9a61-6a0f3c2b9e02";
const std::string kKeys = kBase + "/v1/keys?include_disabled=true";
const std::string kActivity = kBase + "/v1/activity?group_by=workspace";
const Window kWindow{1767225600, 1767484800, "1d"};  // 2026-01-01 .. 2026-01-04

std::unique_ptr<Provider> make(FakeTransport &http, const std::string &base_url = "", long max_pages = 2000) {
    AccountConfig config{"acct", "openrouter", base_url, "sk-admin-secret", 0, {}};
    config.limits.max_pages = max_pages;
    return find_provider("openrouter")->make(config, http);
}

std::string key_json(int i) {
    return "{\"hash\":\"h" + std::to_string(i) + "\",\"name\":\"k" + std::to_string(i) +
           "\",\"label\":\"sk-or-v1-x\",\"disabled\":false,\"created_at\":\"2026-01-01T00:00:00Z\"}";
}

std::string keys_page(int from, int count) {
    std::string body = "{\"data\":[";
    for (int i = from; i < from + count; ++i) body += (i > from ? "," : "") + key_json(i);
    return body + "]}";
}

}  // namespace

TEST(OpenRouter, ListsWorkspacesWithTheManagementKeyInASecretHeader) {
    FakeTransport http;
    http.add(kWorkspaces, fixture("openrouter/workspaces_p1.json"));
    Pages<Workspace> pages;
    make(http)->list_workspaces(pages.sink());
    EXPECT_EQ(http.urls(), (std::vector<std::string>{kWorkspaces}));
    ASSERT_EQ(http.requests.size(), 1u);
    ASSERT_EQ(http.requests[0].secret_headers.size(), 1u);
    EXPECT_EQ(http.requests[0].secret_headers[0].first, "Authorization");
    EXPECT_EQ(http.requests[0].secret_headers[0].second, "Bearer sk-admin-secret");
    EXPECT_EQ(http.requests[0].url.find("sk-admin-secret"), std::string::npos);
    EXPECT_EQ(show_all(pages.rows),
              (std::vector<std::string>{
                  "id=" + kWsDefault + " name=\"Default\" created=1739998347 archived=- status=active",
                  "id=" + kWsResearch + " name=\"Research\" created=1776758400 archived=- status=active",
              }));
}

// A base URL written the SDK way ("/api/v1/") reaches the same paths.
TEST(OpenRouter, BaseUrlWithV1AndTrailingSlash) {
    FakeTransport http;
    http.add("http://127.0.0.1:9/mock/v1/workspaces?limit=100", "{\"data\":[],\"total_count\":0}");
    Pages<Workspace> pages;
    make(http, "http://127.0.0.1:9/mock/v1/")->list_workspaces(pages.sink());
    EXPECT_TRUE(pages.rows.empty());
}

// Every workspace's keys are asked for (the API lists the default workspace's without workspace_id).
TEST(OpenRouter, ListsKeysOfEveryWorkspace) {
    FakeTransport http;
    http.add(kWorkspaces, fixture("openrouter/workspaces_p1.json"));
    http.add(kKeys + "&workspace_id=" + kWsDefault, fixture("openrouter/keys_default.json"));
    http.add(kKeys + "&workspace_id=" + kWsResearch, fixture("openrouter/keys_research.json"));
    Pages<ApiKey> pages;
    make(http)->list_api_keys(pages.sink());
    EXPECT_EQ(http.urls(), (std::vector<std::string>{kWorkspaces, kKeys + "&workspace_id=" + kWsDefault,
                                                     kKeys + "&workspace_id=" + kWsResearch}));
    EXPECT_EQ(show_all(pages.rows),
              (std::vector<std::string>{
                  "id=a3f1c9e07b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d0f2a name=\"prod backend\" "
                  "hint=\"sk-or-v1-0e6...1c96\" status=active ws=\"" +
                      kWsDefault + "\" owner=\"user_2dHFtVWx2n56w6HkM0000000000\" created=1739998347 used=-",
                  "id=b4e2d0f18c3e5a7b9d1f2c4e6a8b0d3f5c7e9a1b2d4f6a8c0e2b4d6f8a1c3e5b name=\"old laptop\" "
                  "hint=\"sk-or-v1-7aa...03be\" status=disabled ws=\"" +
                      kWsDefault + "\" owner=- created=1748772000 used=-",
                  // no workspace_id on the key: the workspace it was listed under
                  "id=c5f3e1a29d4f6b8c0e2a3d5f7b9c1e4a6d8f0b2c3e5a7b9d1f3c5e7a9b2d4f6c name=\"notebook\" "
                  "hint=\"sk-or-v1-c5f...9e2d\" status=active ws=\"" +
                      kWsResearch + "\" owner=\"user_2dHFtVWx2n56w6HkM0000000001\" created=1776850200 used=-",
              }));
}

// No workspaces (an account from before them): the default listing, paged by offset until a short page.
TEST(OpenRouter, KeysPageByOffsetUntilAShortPage) {
    FakeTransport http;
    http.add(kWorkspaces, "{\"data\":[]}");
    http.add(kKeys, keys_page(0, 100));
    http.add(kKeys + "&offset=100", keys_page(100, 100));
    http.add(kKeys + "&offset=200", keys_page(200, 1));
    Pages<ApiKey> pages;
    make(http)->list_api_keys(pages.sink());
    EXPECT_EQ(http.urls(),
              (std::vector<std::string>{kWorkspaces, kKeys, kKeys + "&offset=100", kKeys + "&offset=200"}));
    ASSERT_EQ(pages.rows.size(), 201u);
    EXPECT_EQ(pages.rows[200].id, "h200");
    EXPECT_EQ(pages.rows[200].workspace_id, std::nullopt);
}

// A full page served again and again (a server ignoring offset) ends at the page budget.
TEST(OpenRouter, EndlessKeyPagesHitThePageLimit) {
    FakeTransport http;
    http.add(kWorkspaces, "{\"data\":[]}");
    http.set_fallback(keys_page(0, 100));
    Pages<ApiKey> pages;
    auto d = provider_error([&] { make(http, "", 5)->list_api_keys(pages.sink()); });
    EXPECT_EQ(d.kind, ProviderError::Kind::PageLimit);
    EXPECT_EQ(http.requests.size(), 5u);
    EXPECT_EQ(pages.rows.size(), 100u);  // the same hashes are passed on once
}

// One request for the whole window; rows outside it are left out; reasoning tokens are never added to the
// completion tokens; prompt tokens (all input) go to uncached input with the cache split unknown (null).
TEST(OpenRouter, UsageFromTheActivityReport) {
    FakeTransport http;
    http.add(kActivity, fixture("openrouter/activity.json"));
    Pages<UsageRow> pages;
    make(http)->fetch_usage(kWindow, pages.sink());
    EXPECT_EQ(http.urls(), (std::vector<std::string>{kActivity}));
    const std::string tail = " tier=- batch=- ctx=- geo=- ";
    EXPECT_EQ(
        show_all(pages.rows),
        (std::vector<std::string>{
            "activity [1767225600,1767312000) ws=\"" + kWsDefault +
                "\" key=- model=\"anthropic/claude-opus-4\"" + tail +
                "uncached=10000 read=- w5m=- w1h=- out=500 ain=- aout=- iin=- iout=- req=10 web=-",
            "activity [1767225600,1767312000) ws=\"" + kWsResearch + "\" key=- model=\"openai/gpt-4.1\"" +
                tail + "uncached=50 read=- w5m=- w1h=- out=125 ain=- aout=- iin=- iout=- req=5 web=-",
            "activity [1767312000,1767398400) ws=\"" + kWsResearch + "\" key=- model=\"openai/gpt-4.1\"" +
                tail + "uncached=300 read=- w5m=- w1h=- out=90 ain=- aout=- iin=- iout=- req=3 web=-",
            "activity [1767398400,1767484800) ws=\"" + kWsResearch +
                "\" key=- model=\"deepseek/deepseek-r1\"" + tail +
                "uncached=0 read=- w5m=- w1h=- out=0 ain=- aout=- iin=- iout=- req=0 web=-",
        }));
}

// Credits spent and BYOK inference are separate lines (cost_type credits / byok_inference), the dollars exact
// as sent (an exponent folded), BYOK only where it is not zero; provider, endpoint and permaslug kept.
TEST(OpenRouter, CostsKeepCreditsAndByokApartExactly) {
    FakeTransport http;
    http.add(kActivity, fixture("openrouter/activity.json"));
    Pages<CostRow> pages;
    make(http)->fetch_costs(kWindow, pages.sink());
    const std::string tail = " token=- tier=- ctx=- ";
    const std::string end = " USD qty=- unit=- class=-";
    EXPECT_EQ(show_all(pages.rows),
              (std::vector<std::string>{
                  "[1767225600,1767312000) ws=\"" + kWsDefault +
                      "\" key=- item=\"credits | Anthropic | ep-1 | anthropic/claude-opus-4-20260117\" "
                      "model=\"anthropic/claude-opus-4\"" +
                      tail + "cost_type=\"credits\" geo=- usd=5.12" + end,
                  "[1767225600,1767312000) ws=\"" + kWsResearch +
                      "\" key=- item=\"credits | OpenAI | 550e8400-e29b-41d4-a716-446655440000 | "
                      "openai/gpt-4.1-2025-04-14\" model=\"openai/gpt-4.1\"" +
                      tail + "cost_type=\"credits\" geo=- usd=0.015" + end,
                  "[1767225600,1767312000) ws=\"" + kWsResearch +
                      "\" key=- item=\"byok inference | OpenAI | 550e8400-e29b-41d4-a716-446655440000 | "
                      "openai/gpt-4.1-2025-04-14\" model=\"openai/gpt-4.1\"" +
                      tail + "cost_type=\"byok_inference\" geo=- usd=0.012" + end,
                  "[1767312000,1767398400) ws=\"" + kWsResearch +
                      "\" key=- item=\"credits | Azure | ep-2 | openai/gpt-4.1-2025-04-14\" "
                      "model=\"openai/gpt-4.1\"" +
                      tail + "cost_type=\"credits\" geo=- usd=137.141032391" + end,
                  "[1767312000,1767398400) ws=\"" + kWsResearch +
                      "\" key=- item=\"byok inference | Azure | ep-2 | openai/gpt-4.1-2025-04-14\" "
                      "model=\"openai/gpt-4.1\"" +
                      tail + "cost_type=\"byok_inference\" geo=- usd=0.000012" + end,
                  "[1767398400,1767484800) ws=\"" + kWsResearch +
                      "\" key=- item=\"credits | baseten/fp4 | ep-3 | deepseek/deepseek-r1-0528\" "
                      "model=\"deepseek/deepseek-r1\"" +
                      tail + "cost_type=\"credits\" geo=- usd=0.000000001" + end,
              }));
}

TEST(OpenRouter, EmptyActivityIsNoRows) {
    FakeTransport http;
    http.add(kActivity, fixture("openrouter/activity_empty.json"));
    Pages<CostRow> pages;
    make(http)->fetch_costs(kWindow, pages.sink());
    EXPECT_TRUE(pages.rows.empty());
}

TEST(OpenRouter, NegativeAmountIsAnError) {
    FakeTransport http;
    http.add(kActivity, fixture("openrouter/activity_negative.json"));
    auto d = provider_error([&] { make(http)->fetch_costs(kWindow, [](std::vector<CostRow> &&) {}); });
    EXPECT_EQ(d.kind, ProviderError::Kind::Parse);
    EXPECT_EQ(d.detail, "data[0].usage: negative amount -0.5");
}

TEST(OpenRouter, AbsurdAmountIsAnError) {
    FakeTransport http;
    http.add(kActivity, "{\"data\":[{\"date\":\"2026-01-01\",\"model\":\"a/b\",\"usage\":1e12}]}");
    auto d = provider_error([&] { make(http)->fetch_costs(kWindow, [](std::vector<CostRow> &&) {}); });
    EXPECT_EQ(d.detail, "data[0].usage: amount 1000000000000 USD is not believable for one day's row");
}

TEST(OpenRouter, ReasoningAboveCompletionIsAnError) {
    FakeTransport http;
    http.add(kActivity, fixture("openrouter/activity_reasoning.json"));
    auto d = provider_error([&] { make(http)->fetch_usage(kWindow, [](std::vector<UsageRow> &&) {}); });
    EXPECT_EQ(
        d.detail,
        "data[0].reasoning_tokens: reasoning tokens (6) exceed the completion tokens (5) that include them");
}

TEST(OpenRouter, DateWithATimeOfDayIsAnError) {
    FakeTransport http;
    http.add(kActivity, fixture("openrouter/activity_bad_date.json"));
    auto d = provider_error([&] { make(http)->fetch_usage(kWindow, [](std::vector<UsageRow> &&) {}); });
    EXPECT_EQ(d.detail, "data[1].date: expected a UTC day \"YYYY-MM-DD\" (or \"YYYY-MM-DD 00:00:00\")");
}

TEST(OpenRouter, AmountAsStringIsAnError) {
    FakeTransport http;
    http.add(kActivity, fixture("openrouter/activity_string_usage.json"));
    auto d = provider_error([&] { make(http)->fetch_costs(kWindow, [](std::vector<CostRow> &&) {}); });
    EXPECT_EQ(d.kind, ProviderError::Kind::Parse);
    EXPECT_EQ(d.detail.rfind("data[0].usage: expected ", 0), 0u) << d.detail;
}

TEST(OpenRouter, HourlyBucketsAreAConfigError) {
    FakeTransport http;
    auto d = provider_error([&] {
        make(http)->fetch_usage(Window{1767225600, 1767229200, "1h"}, [](std::vector<UsageRow> &&) {});
    });
    EXPECT_EQ(d.kind, ProviderError::Kind::Config);
    EXPECT_TRUE(http.requests.empty());
}

// An API without workspaces answers 404 on /workspaces: no workspaces, and the default listing of keys.
TEST(OpenRouter, NoWorkspacesEndpointMeansTheDefaultKeys) {
    FakeTransport http;
    http.fail(kWorkspaces, 404);
    http.add(kKeys, keys_page(0, 2));
    Pages<Workspace> workspaces;
    make(http)->list_workspaces(workspaces.sink());
    EXPECT_TRUE(workspaces.rows.empty());
    Pages<ApiKey> keys;
    make(http)->list_api_keys(keys.sink());
    ASSERT_EQ(keys.rows.size(), 2u);
    EXPECT_EQ(keys.rows[1].id, "h1");
}

// Any other failure is the sync's failure: a non-management key (403), a server error.
TEST(OpenRouter, OtherFailuresOfWorkspacesAreErrors) {
    FakeTransport http;
    http.fail(kWorkspaces, 403);
    auto d = provider_error([&] { make(http)->list_workspaces([](std::vector<Workspace> &&) {}); });
    EXPECT_EQ(d.kind, ProviderError::Kind::Auth);
    FakeTransport http2;
    http2.fail(kWorkspaces, 500);
    d = provider_error([&] { make(http2)->list_api_keys([](std::vector<ApiKey> &&) {}); });
    EXPECT_EQ(d.http_status, 500);
    FakeTransport http3;
    http3.fail(kActivity, 404);  // a 404 elsewhere is not read as "nothing"
    d = provider_error([&] { make(http3)->fetch_costs(kWindow, [](std::vector<CostRow> &&) {}); });
    EXPECT_EQ(d.http_status, 404);
}
