// Anthropic provider against canned pages: exact records, exact URLs, pagination and error paths.
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

const std::string kBase = "https://api.anthropic.com";
const std::string kWorkspaces = kBase + "/v1/organizations/workspaces?limit=100&include_archived=true";
const std::string kWithDefault = kWorkspaces + "&include_default=true";
const std::string kKeys = kBase + "/v1/organizations/api_keys?limit=100";
const std::string kUsage =
    kBase +
    "/v1/organizations/usage_report/messages?starting_at=2026-01-01T00:00:00Z"
    "&ending_at=2026-01-04T00:00:00Z&bucket_width=1d&limit=31&group_by[]=workspace_id"
    "&group_by[]=api_key_id&group_by[]=model&group_by[]=service_tier&group_by[]=context_window"
    "&group_by[]=inference_geo";
const std::string kCosts = kBase +
                           "/v1/organizations/cost_report?starting_at=2026-01-01T00:00:00Z"
                           "&ending_at=2026-01-04T00:00:00Z&bucket_width=1d&limit=31&group_by[]=workspace_id"
                           "&group_by[]=description";
const Window kWindow{1767225600, 1767484800, "1d"};

std::unique_ptr<Provider> make(FakeTransport &http, const std::string &base_url = "") {
    return find_provider("anthropic")
        ->make(AccountConfig{"acct", "anthropic", base_url, "sk-admin-secret", 0, {}}, http);
}

}  // namespace

// Listed twice, the second time with include_default=true: the workspace only that listing has is the
// default one, passed on last.
TEST(Anthropic, ListsWorkspacesAcrossPagesAndFindsTheDefault) {
    FakeTransport http;
    http.add(kWorkspaces, fixture("anthropic/workspaces_p1.json"));
    http.add(kWorkspaces + "&after_id=wrkspc_01Mz", fixture("anthropic/workspaces_p2.json"));
    http.add(kWithDefault, fixture("anthropic/workspaces_default_p1.json"));
    http.add(kWithDefault + "&after_id=wrkspc_01Mz", fixture("anthropic/workspaces_p2.json"));
    Pages<Workspace> pages;
    make(http)->list_workspaces(pages.sink());
    EXPECT_EQ(http.urls(), (std::vector<std::string>{kWorkspaces, kWorkspaces + "&after_id=wrkspc_01Mz",
                                                     kWithDefault, kWithDefault + "&after_id=wrkspc_01Mz"}));
    EXPECT_EQ(pages.sizes, (std::vector<size_t>{2, 1, 1}));
    EXPECT_EQ(
        show_all(pages.rows),
        (std::vector<std::string>{
            "id=wrkspc_01Kd name=\"Support Bot\" created=1740600326 archived=- status=active",
            "id=wrkspc_01Mz name=\"Old Experiments\" created=1730538840 archived=1764608400 status=archived",
            "id=wrkspc_01Zz name=\"Berlin\" created=1748772000 archived=- status=active",
            "id=wrkspc_01Def name=\"Default\" created=1714550400 archived=- status=active DEFAULT",
        }));
}

namespace {

std::string workspace(const std::string &id, const std::string &created_at) {
    return R"({"id":")" + id + R"(","type":"workspace","name":")" + id + R"(","created_at":")" + created_at +
           R"(","archived_at":null,"display_color":"#000000"})";
}

std::string list_page(const std::string &items) {
    return R"({"data":[)" + items + R"(],"first_id":null,"last_id":null,"has_more":false})";
}

}  // namespace

// A workspace created between the two listings is also added by the second: the oldest added is the default.
TEST(Anthropic, WorkspaceCreatedDuringTheSyncIsNotTheDefault) {
    FakeTransport http;
    http.add(kWorkspaces, list_page(workspace("wrkspc_A", "2025-01-01T00:00:00Z")));
    http.add(kWithDefault, list_page(workspace("wrkspc_New", "2026-01-02T00:00:00Z") + "," +
                                     workspace("wrkspc_A", "2025-01-01T00:00:00Z") + "," +
                                     workspace("wrkspc_Def", "2024-01-01T00:00:00Z") + "," +
                                     workspace("wrkspc_Newer", "2026-01-03T00:00:00Z")));
    Pages<Workspace> pages;
    make(http)->list_workspaces(pages.sink());
    EXPECT_EQ(show_all(pages.rows),
              (std::vector<std::string>{
                  "id=wrkspc_A name=\"wrkspc_A\" created=1735689600 archived=- status=active",
                  "id=wrkspc_New name=\"wrkspc_New\" created=1767312000 archived=- status=active",
                  "id=wrkspc_Newer name=\"wrkspc_Newer\" created=1767398400 archived=- status=active",
                  "id=wrkspc_Def name=\"wrkspc_Def\" created=1704067200 archived=- status=active DEFAULT",
              }));
}

// An API that ignores include_default lists the same workspaces twice: no default, nothing passed on twice.
TEST(Anthropic, NoDefaultWhenTheSecondListingAddsNothing) {
    FakeTransport http;
    http.add(kWorkspaces, fixture("anthropic/workspaces_p2.json"));
    http.add(kWithDefault, fixture("anthropic/workspaces_p2.json"));
    Pages<Workspace> pages;
    make(http)->list_workspaces(pages.sink());
    EXPECT_EQ(http.urls(), (std::vector<std::string>{kWorkspaces, kWithDefault}));
    EXPECT_EQ(show_all(pages.rows),
              (std::vector<std::string>{
                  "id=wrkspc_01Zz name=\"Berlin\" created=1748772000 archived=- status=active",
              }));
}

TEST(Anthropic, SendsVersionHeaderAndTheKeyOnlyAsASecret) {
    FakeTransport http;
    http.add(kWorkspaces, fixture("anthropic/workspaces_p2.json"));
    http.add(kWithDefault, fixture("anthropic/workspaces_p2.json"));
    make(http)->list_workspaces([](std::vector<Workspace> &&) {});
    ASSERT_EQ(http.requests.size(), 2u);
    const HttpRequest &r = http.requests[0];
    using Headers = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(r.headers, (Headers{{"anthropic-version", "2023-06-01"}}));
    EXPECT_EQ(r.secret_headers, (Headers{{"x-api-key", "sk-admin-secret"}}));
    EXPECT_EQ(r.provider, "anthropic");
}

TEST(Anthropic, BaseUrlMayEndInTheApiVersion) {
    FakeTransport http;
    http.add(kKeys, fixture("anthropic/api_keys.json"));
    make(http, kBase + "/v1/")->list_api_keys([](std::vector<ApiKey> &&) {});
    EXPECT_EQ(http.urls(), (std::vector<std::string>{kKeys}));
}

TEST(Anthropic, ListsApiKeysOfEveryShape) {
    FakeTransport http;
    http.add(kKeys, fixture("anthropic/api_keys.json"));
    Pages<ApiKey> pages;
    make(http)->list_api_keys(pages.sink());
    EXPECT_EQ(http.urls(), (std::vector<std::string>{kKeys}));
    EXPECT_EQ(
        show_all(pages.rows),
        (std::vector<std::string>{
            "id=apikey_01Hx name=\"support-bot-prod\" hint=\"sk-ant-api03-Zq7...x9AA\" status=active "
            "ws=\"wrkspc_01Kd\" owner=\"user_01WCz\" created=1741087353 used=-",
            "id=apikey_01Pq name=\"old-notebook-key\" hint=\"sk-ant-api03-Lm2...k1AA\" status=archived ws=- "
            "owner=\"user_01AbC\" created=1730332707 used=-",
            "id=apikey_01Sa name=\"federated\" hint=- status=quarantined ws=- owner=\"svcacct_01X\" "
            "created=1769904000 used=-",
        }));
}

TEST(Anthropic, FetchesUsageWithNestedCacheWrites) {
    FakeTransport http;
    const std::string page2 = kUsage + "&page=page_MjAyNi0wMS0wMlQwMDowMDowMFo%3D";
    http.add(kUsage, fixture("anthropic/usage_p1.json"));
    http.add(page2, fixture("anthropic/usage_p2.json"));
    Pages<UsageRow> pages;
    make(http)->fetch_usage(kWindow, pages.sink());
    EXPECT_EQ(http.urls(), (std::vector<std::string>{kUsage, page2}));
    EXPECT_EQ(pages.sizes, (std::vector<size_t>{2, 1}));
    EXPECT_EQ(
        show_all(pages.rows),
        (std::vector<std::string>{
            "messages [1767225600,1767312000) ws=\"wrkspc_01Kd\" key=\"apikey_01Hx\" "
            "model=\"claude-sonnet-4-5-20250929\" tier=\"standard\" batch=false ctx=\"0-200k\" "
            "geo=\"global\" "
            "uncached=152340 read=913775 w5m=48210 w1h=1000 out=61402 ain=- aout=- iin=- iout=- req=- web=14",
            "messages [1767225600,1767312000) ws=- key=- model=\"claude-haiku-4-5-20251001\" tier=\"batch\" "
            "batch=true ctx=\"0-200k\" geo=- uncached=2210 read=0 w5m=0 w1h=0 out=845 ain=- aout=- iin=- "
            "iout=- "
            "req=- web=0",
            "messages [1767398400,1767484800) ws=\"wrkspc_01Mz\" key=\"apikey_01Pq\" "
            "model=\"claude-opus-5-5\" "
            "tier=\"priority_on_demand\" batch=false ctx=\"200k-1M\" geo=\"mars\" uncached=10 read=20 w5m=- "
            "w1h=- "
            "out=30 ain=- aout=- iin=- iout=- req=- web=-",
        }));
}

TEST(Anthropic, HourlyUsageUsesTheHourlyLimit) {
    FakeTransport http;
    http.set_fallback(R"({"data":[],"has_more":false,"next_page":null})");
    make(http)->fetch_usage(Window{1767225600, 1767229200, "1h"}, [](std::vector<UsageRow> &&) {});
    ASSERT_EQ(http.requests.size(), 1u);
    EXPECT_NE(http.requests[0].url.find("?starting_at=2026-01-01T00:00:00Z&ending_at=2026-01-01T01:00:00Z"
                                        "&bucket_width=1h&limit=168&"),
              std::string::npos);
}

TEST(Anthropic, FetchesCostsInDollars) {
    FakeTransport http;
    http.add(kCosts, fixture("anthropic/costs.json"));
    Pages<CostRow> pages;
    make(http)->fetch_costs(kWindow, pages.sink());
    EXPECT_EQ(http.urls(), (std::vector<std::string>{kCosts}));
    EXPECT_EQ(pages.sizes, (std::vector<size_t>{5}));
    EXPECT_EQ(
        show_all(pages.rows),
        (std::vector<std::string>{
            "[1767225600,1767312000) ws=\"wrkspc_01Kd\" key=- item=\"Claude Sonnet 4.5 Usage - Input "
            "Tokens\" "
            "model=\"claude-sonnet-4-5-20250929\" token=\"uncached_input_tokens\" tier=\"standard\" "
            "ctx=\"0-200k\" cost_type=\"tokens\" geo=\"not_available\" usd=0.45702 USD qty=- unit=- "
            "class=\"input\"",
            "[1767225600,1767312000) ws=- key=- item=\"Claude Sonnet 4.5 Usage - Input Tokens, Cache Write\" "
            "model=\"claude-sonnet-4-5-20250929\" token=\"cache_creation.ephemeral_5m_input_tokens\" "
            "tier=\"standard\" ctx=\"0-200k\" cost_type=\"tokens\" geo=\"not_available\" usd=41.825625 USD "
            "qty=- unit=- class=\"cache_write\"",
            "[1767225600,1767312000) ws=\"wrkspc_01Kd\" key=- item=\"Web Search Usage\" model=- token=- "
            "tier=- "
            "ctx=- cost_type=\"web_search\" geo=- usd=15 USD qty=- unit=- class=\"tool\"",
            "[1767225600,1767312000) ws=\"wrkspc_01Kd\" key=- item=\"Managed Agents Session\" model=- "
            "token=\"session_seconds\" tier=\"flex\" ctx=- cost_type=\"session_usage\" geo=- usd=0.001 USD "
            "qty=- unit=- class=\"unrecognised\"",
            "[1767398400,1767484800) ws=\"wrkspc_01Mz\" key=- item=\"Credit\" model=- token=- tier=- ctx=- "
            "cost_type=\"adjustment\" geo=- usd=-1.2378912 USD qty=- unit=- class=\"tool\"",
        }));
}

TEST(Anthropic, RepeatedCursorIsACursorLoop) {
    FakeTransport http;
    http.add(kUsage, fixture("anthropic/usage_p1.json"));
    http.add(kUsage + "&page=page_MjAyNi0wMS0wMlQwMDowMDowMFo%3D", fixture("anthropic/usage_p1.json"));
    Pages<UsageRow> pages;
    auto d = provider_error([&] { make(http)->fetch_usage(kWindow, pages.sink()); });
    EXPECT_EQ(d.kind, ProviderError::Kind::CursorLoop);
    EXPECT_EQ(d.endpoint, kBase + "/v1/organizations/usage_report/messages");
    EXPECT_EQ(pages.sizes, (std::vector<size_t>{2, 2}));
}

TEST(Anthropic, ListCursorLoopAndMissingCursor) {
    FakeTransport http;
    http.add(kWorkspaces, fixture("anthropic/workspaces_p1.json"));
    http.add(kWorkspaces + "&after_id=wrkspc_01Mz", fixture("anthropic/workspaces_p1.json"));
    auto d = provider_error([&] { make(http)->list_workspaces([](std::vector<Workspace> &&) {}); });
    EXPECT_EQ(d.kind, ProviderError::Kind::CursorLoop);
    EXPECT_EQ(d.detail, "last_id: cursor \"wrkspc_01Mz\" was already followed");
    http.add(kKeys, R"({"data":[],"first_id":null,"last_id":null,"has_more":true})");
    d = provider_error([&] { make(http)->list_api_keys([](std::vector<ApiKey> &&) {}); });
    EXPECT_EQ(d.kind, ProviderError::Kind::Parse);
    EXPECT_EQ(d.detail, "last_id: has_more is true but there is no cursor");
}

TEST(Anthropic, MalformedCentsNameThePath) {
    FakeTransport http;
    http.add(kCosts, fixture("anthropic/costs_bad_amount.json"));
    auto d = provider_error([&] { make(http)->fetch_costs(kWindow, [](std::vector<CostRow> &&) {}); });
    EXPECT_EQ(d.kind, ProviderError::Kind::Parse);
    EXPECT_EQ(d.endpoint, kBase + "/v1/organizations/cost_report");
    EXPECT_EQ(d.detail,
              "data[0].results[1].amount: invalid cents amount \"12,50\": expected a decimal string such as "
              "\"123.45\"");
}

TEST(Anthropic, NumericAmountIsAWrongType) {
    FakeTransport http;
    http.add(kCosts, fixture("anthropic/costs_amount_number.json"));
    auto d = provider_error([&] { make(http)->fetch_costs(kWindow, [](std::vector<CostRow> &&) {}); });
    EXPECT_EQ(d.detail, "data[0].results[0].amount: expected string, got number");
}

TEST(Anthropic, BadTimeAndMissingResultsNameThePath) {
    FakeTransport http;
    http.add(kUsage, fixture("anthropic/usage_bad_time.json"));
    auto d = provider_error([&] { make(http)->fetch_usage(kWindow, [](std::vector<UsageRow> &&) {}); });
    EXPECT_EQ(d.detail, "data[1].starting_at: expected an RFC 3339 time");
    FakeTransport http2;
    http2.add(kUsage, fixture("anthropic/usage_missing_results.json"));
    d = provider_error([&] { make(http2)->fetch_usage(kWindow, [](std::vector<UsageRow> &&) {}); });
    EXPECT_EQ(d.detail, "data[0].results: missing");
}

TEST(Registry, KnowsTheThreeProviders) {
    EXPECT_EQ(provider_names(), "openai, anthropic, openrouter");
    ASSERT_NE(find_provider("openai"), nullptr);
    EXPECT_EQ(find_provider("openai")->default_base_url, "https://api.openai.com");
    ASSERT_NE(find_provider("anthropic"), nullptr);
    EXPECT_EQ(find_provider("anthropic")->default_base_url, "https://api.anthropic.com");
    ASSERT_NE(find_provider("openrouter"), nullptr);
    EXPECT_EQ(find_provider("openrouter")->default_base_url, "https://openrouter.ai/api");
    EXPECT_EQ(find_provider("gemini"), nullptr);
    EXPECT_EQ(provider_registry().size(), 3u);
}
