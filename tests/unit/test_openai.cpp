// OpenAI provider against canned pages: exact records, exact URLs, pagination and error paths.
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

const std::string kBase = "https://api.openai.com";
const std::string kProjects = kBase + "/v1/organization/projects?limit=100&include_archived=true";
const std::string kCompletions =
    kBase +
    "/v1/organization/usage/completions?start_time=1767225600&end_time=1767484800"
    "&bucket_width=1d&limit=31&group_by=project_id&group_by=api_key_id&group_by=model"
    "&group_by=batch&group_by=service_tier";
const std::string kEmbeddings =
    kBase +
    "/v1/organization/usage/embeddings?start_time=1767225600&end_time=1767484800"
    "&bucket_width=1d&limit=31&group_by=project_id&group_by=api_key_id&group_by=model";
const std::string kCosts = kBase +
                           "/v1/organization/costs?start_time=1767225600&end_time=1767484800&bucket_width=1d"
                           "&limit=180&group_by=project_id&group_by=line_item&group_by=api_key_id";
const Window kWindow{1767225600, 1767484800, "1d"};

std::string keys_url(const std::string &project) {
    return kBase + "/v1/organization/projects/" + project + "/api_keys?limit=100&owner_project_access=any";
}

std::unique_ptr<Provider> make(FakeTransport &http, const std::string &base_url = "") {
    return find_provider("openai")->make(AccountConfig{"acct", "openai", base_url, "sk-admin-secret", 0, {}},
                                         http);
}

}  // namespace

TEST(OpenAi, ListsProjectsAcrossPages) {
    FakeTransport http;
    http.add(kProjects, fixture("openai/projects_p1.json"));
    http.add(kProjects + "&after=proj_B", fixture("openai/projects_p2.json"));
    Pages<Workspace> pages;
    make(http)->list_workspaces(pages.sink());
    EXPECT_EQ(http.urls(), (std::vector<std::string>{kProjects, kProjects + "&after=proj_B"}));
    EXPECT_EQ(pages.sizes, (std::vector<size_t>{2, 1}));
    EXPECT_EQ(show_all(pages.rows),
              (std::vector<std::string>{
                  "id=proj_A name=\"Support Bot\" created=1735689600 archived=- status=active",
                  "id=proj_B name=\"Legacy ETL\" created=1717200000 archived=1764547200 status=archived",
                  "id=proj_C name=- created=1740000000 archived=- status=suspended_for_review",
              }));
}

TEST(OpenAi, SendsTheKeyOnlyAsASecretBearerHeader) {
    FakeTransport http;
    http.add(kProjects, fixture("openai/projects_p2.json"));
    make(http)->list_workspaces([](std::vector<Workspace> &&) {});
    ASSERT_EQ(http.requests.size(), 1u);
    const HttpRequest &r = http.requests[0];
    EXPECT_EQ(
        r.secret_headers,
        (std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer sk-admin-secret"}}));
    EXPECT_TRUE(r.headers.empty());
    EXPECT_EQ(r.provider, "openai");
    EXPECT_EQ(r.url.find("sk-admin"), std::string::npos);
}

TEST(OpenAi, UsesTheConfiguredBaseUrl) {
    FakeTransport http;
    const std::string base = "http://127.0.0.1:8080/mock/fault=none";
    http.add(base + "/v1/organization/projects?limit=100&include_archived=true",
             fixture("openai/projects_p2.json"));
    for (const char *written : {"", "/", "/v1", "/v1/"})
        make(http, base + written)->list_workspaces([](std::vector<Workspace> &&) {});
    EXPECT_EQ(http.requests.size(), 4u);
}

TEST(OpenAi, ListsKeysOfEveryProject) {
    FakeTransport http;
    http.add(kProjects, fixture("openai/projects_p1.json"));
    http.add(kProjects + "&after=proj_B", fixture("openai/projects_p2.json"));
    http.add(keys_url("proj_A"), fixture("openai/keys_proj_A.json"));
    http.add(keys_url("proj_A") + "&after=key_Qw9e", fixture("openai/keys_proj_A_p2.json"));
    http.add(keys_url("proj_B"), fixture("openai/keys_proj_B.json"));
    http.add(keys_url("proj_C"), fixture("openai/keys_proj_C.json"));
    Pages<ApiKey> pages;
    make(http)->list_api_keys(pages.sink());
    EXPECT_EQ(http.urls(), (std::vector<std::string>{
                               kProjects, keys_url("proj_A"), keys_url("proj_A") + "&after=key_Qw9e",
                               keys_url("proj_B"), kProjects + "&after=proj_B", keys_url("proj_C")}));
    EXPECT_EQ(pages.sizes, (std::vector<size_t>{2, 1, 1}));  // proj_B has no keys: nothing to hand over
    EXPECT_EQ(
        show_all(pages.rows),
        (std::vector<std::string>{
            "id=key_Zp3L name=\"support-bot-prod\" hint=\"sk-proj-****...Xk4Q\" status=active ws=\"proj_A\" "
            "owner=\"support-bot\" created=1736000000 used=1767300123",
            "id=key_Qw9e name=\"alice-laptop\" hint=\"sk-proj-****...b7Wc\" status=active ws=\"proj_A\" "
            "owner=\"alice@example.com\" created=1740000000 used=-",
            "id=key_Bob1 name=\"bob\" hint=\"sk-proj-****...zz01\" status=active ws=\"proj_A\" owner=\"Bob\" "
            "created=1741000000 used=1741000500",
            "id=key_Orphan name=- hint=\"sk-proj-****...c0c0\" status=active ws=\"proj_C\" owner=- "
            "created=1742000000 used=-",
        }));
}

TEST(OpenAi, FetchesCompletionsAndEmbeddingsUsage) {
    FakeTransport http;
    const std::string page2 = kCompletions + "&page=page_AAAAAGlXS4AAAAAAAAAAAGlW%2BgA%3D";
    http.add(kCompletions, fixture("openai/completions_new_p1.json"));
    http.add(page2, fixture("openai/completions_legacy_p2.json"));
    http.add(kEmbeddings, fixture("openai/embeddings.json"));
    Pages<UsageRow> pages;
    make(http)->fetch_usage(kWindow, pages.sink());
    EXPECT_EQ(http.urls(), (std::vector<std::string>{kCompletions, page2, kEmbeddings}));
    EXPECT_EQ(pages.sizes, (std::vector<size_t>{2, 2, 1}));
    EXPECT_EQ(
        show_all(pages.rows),
        (std::vector<std::string>{
            // new field set: uncached/cached/cache-write used as sent; audio and image span cached too
            "completions [1767225600,1767312000) ws=\"proj_A\" key=\"key_Zp3L\" "
            "model=\"gpt-5-mini-2025-08-07\" "
            "tier=\"default\" batch=false ctx=- geo=- uncached=110000 read=64000 w5m=8000 w1h=- out=41250 "
            "ain=6000 aout=1250 iin=2000 iout=0 req=318 web=-",
            "completions [1767225600,1767312000) ws=- key=- model=\"gpt-4.1-2025-04-14\" tier=\"hyperdrive\" "
            "batch=true ctx=- geo=- uncached=9500 read=0 w5m=0 w1h=- out=2100 ain=- aout=- iin=- iout=- "
            "req=12 "
            "web=-",
            // legacy: uncached = 5000 - 1200 + 300 audio, output = 700 + 50 audio
            "completions [1767312000,1767398400) ws=\"proj_B\" key=\"key_Qw9e\" model=\"gpt-4o-2024-08-06\" "
            "tier=- batch=false ctx=- geo=- uncached=4100 read=1200 w5m=- w1h=- out=750 ain=300 aout=50 "
            "iin=- "
            "iout=- req=9 web=-",
            "completions [1767312000,1767398400) ws=\"proj_B\" key=\"key_Qw9e\" model=\"gpt-4o-mini\" tier=- "
            "batch=- ctx=- geo=- uncached=800 read=- w5m=- w1h=- out=90 ain=- aout=- iin=- iout=- req=2 "
            "web=-",
            "embeddings [1767225600,1767312000) ws=\"proj_A\" key=\"key_Zp3L\" "
            "model=\"text-embedding-3-small\" "
            "tier=- batch=- ctx=- geo=- uncached=123456 read=- w5m=- w1h=- out=- ain=- aout=- iin=- iout=- "
            "req=40 web=-",
        }));
}

TEST(OpenAi, HourlyUsageUsesTheHourlyLimit) {
    FakeTransport http;
    http.set_fallback(R"({"object":"page","data":[],"has_more":false,"next_page":null})");
    make(http)->fetch_usage(Window{1767225600, 1767229200, "1h"}, [](std::vector<UsageRow> &&) {});
    ASSERT_EQ(http.requests.size(), 2u);
    EXPECT_NE(http.requests[0].url.find("&bucket_width=1h&limit=168&"), std::string::npos);
    EXPECT_EQ(provider_error([&] {
                  make(http)->fetch_usage(Window{0, 1, "1w"}, [](std::vector<UsageRow> &&) {});
              }).kind,
              ProviderError::Kind::Config);
}

TEST(OpenAi, PageBucketsLowersTheLimitButNeverRaisesIt) {
    FakeTransport http;
    http.set_fallback(R"({"object":"page","data":[],"has_more":false,"next_page":null})");
    auto small =
        find_provider("openai")->make(AccountConfig{"acct", "openai", "", "sk-admin-secret", 7, {}}, http);
    small->fetch_usage(Window{1767225600, 1767312000, "1d"}, [](std::vector<UsageRow> &&) {});
    small->fetch_costs(Window{1767225600, 1767312000, "1d"}, [](std::vector<CostRow> &&) {});
    auto large =
        find_provider("openai")->make(AccountConfig{"acct", "openai", "", "sk-admin-secret", 100, {}}, http);
    large->fetch_usage(Window{1767225600, 1767312000, "1d"}, [](std::vector<UsageRow> &&) {});
    ASSERT_EQ(http.requests.size(), 5u);
    EXPECT_NE(http.requests[0].url.find("&limit=7&"), std::string::npos);   // completions
    EXPECT_NE(http.requests[2].url.find("&limit=7&"), std::string::npos);   // costs
    EXPECT_NE(http.requests[3].url.find("&limit=31&"), std::string::npos);  // 100 > the API's 31
}

TEST(OpenAi, FetchesCostsWithExactAmounts) {
    FakeTransport http;
    http.add(kCosts, fixture("openai/costs_p1.json"));
    http.add(kCosts + "&page=page_costs_2", fixture("openai/costs_p2.json"));
    Pages<CostRow> pages;
    make(http)->fetch_costs(kWindow, pages.sink());
    EXPECT_EQ(http.urls(), (std::vector<std::string>{kCosts, kCosts + "&page=page_costs_2"}));
    EXPECT_EQ(pages.sizes, (std::vector<size_t>{3, 3}));
    EXPECT_EQ(
        show_all(pages.rows),
        (std::vector<std::string>{
            "[1767225600,1767312000) ws=\"proj_A\" key=\"key_Zp3L\" item=\"gpt-5-mini-2025-08-07, input\" "
            "model=\"gpt-5-mini-2025-08-07\" token=\"input\" tier=- ctx=- cost_type=- geo=- "
            "usd=0.02750000000000000 USD qty=\"110000\" unit=\"tokens\" class=\"input\"",
            "[1767225600,1767312000) ws=\"proj_B\" key=- item=\"assistants api | file search\" model=- "
            "token=- "
            "tier=- ctx=- cost_type=\"assistants api\" geo=- usd=0.00032195744715549047 USD qty=- unit=- "
            "class=\"tool\"",
            "[1767225600,1767312000) ws=\"proj_A\" key=- item=\"evals | gpt-4o-mini-2024-07-18, cached "
            "input\" "
            "model=\"gpt-4o-mini-2024-07-18\" token=\"cached input\" tier=- ctx=- cost_type=\"evals\" geo=- "
            "usd=52.41558761812793 USD qty=\"1500\" unit=\"1000_tokens\" class=\"cached_input\"",
            "[1767398400,1767484800) ws=\"proj_A\" key=\"key_Qw9e\" item=\"ft-gpt-4o-2024-08-06, Output\" "
            "model=\"ft-gpt-4o-2024-08-06\" token=\"output\" tier=- ctx=- cost_type=- geo=- usd=0.000012 EUR "
            "qty=- unit=- class=\"output\"",
            "[1767398400,1767484800) ws=- key=- item=- model=- token=- tier=- ctx=- cost_type=- geo=- usd=3 "
            "USD qty=- unit=- class=\"unrecognised\"",
            "[1767398400,1767484800) ws=\"proj_C\" key=- item=\"Image models\" model=- token=- tier=- ctx=- "
            "cost_type=- geo=- usd=-0.5 USD qty=- unit=\"images_v2\" class=\"unrecognised\"",
        }));
}

// A tier word in the line item becomes the row's service tier, unless the provider sent one.
TEST(OpenAi, CostLinesCarryTheirClassAndTier) {
    FakeTransport http;
    http.add(
        kCosts,
        R"({"object":"page","data":[{"object":"bucket","start_time":1767225600,"end_time":1767312000,)"
        R"("results":[{"amount":{"value":1.5,"currency":"usd"},"line_item":"gpt-5, output | priority"},)"
        R"j({"amount":{"value":2,"currency":"usd"},"line_item":"gpt-5, input (batch)",)j"
        R"("service_tier":"default"},)"
        R"({"amount":{"value":0.25,"currency":"usd"},"line_item":"evals | gpt-4o, Cached Input | Batch"}]}],)"
        R"("has_more":false,"next_page":null})");
    Pages<CostRow> pages;
    make(http)->fetch_costs(kWindow, pages.sink());
    EXPECT_EQ(show_all(pages.rows),
              (std::vector<std::string>{
                  "[1767225600,1767312000) ws=- key=- item=\"gpt-5, output | priority\" model=\"gpt-5\" "
                  "token=\"output | priority\" tier=\"priority\" ctx=- cost_type=- geo=- usd=1.5 USD qty=- "
                  "unit=- class=\"output\"",
                  "[1767225600,1767312000) ws=- key=- item=\"gpt-5, input (batch)\" model=\"gpt-5\" "
                  "token=\"input (batch)\" tier=\"default\" ctx=- cost_type=- geo=- usd=2 USD qty=- unit=- "
                  "class=\"input\"",
                  "[1767225600,1767312000) ws=- key=- item=\"evals | gpt-4o, Cached Input | Batch\" "
                  "model=\"gpt-4o\" token=\"cached input | batch\" tier=\"batch\" ctx=- cost_type=\"evals\" "
                  "geo=- usd=0.25 USD qty=- unit=- class=\"cached_input\"",
              }));
}

TEST(OpenAi, RepeatedCursorIsACursorLoop) {
    FakeTransport http;
    http.add(kCosts, fixture("openai/costs_p1.json"));
    http.add(kCosts + "&page=page_costs_2", fixture("openai/costs_p1.json"));
    Pages<CostRow> pages;
    auto d = provider_error([&] { make(http)->fetch_costs(kWindow, pages.sink()); });
    EXPECT_EQ(d.kind, ProviderError::Kind::CursorLoop);
    EXPECT_EQ(d.endpoint, kBase + "/v1/organization/costs");
    EXPECT_EQ(d.detail, "next_page: cursor \"page_costs_2\" was already followed");
    EXPECT_EQ(pages.sizes, (std::vector<size_t>{3, 3}));
    EXPECT_EQ(http.requests.size(), 2u);
}

TEST(OpenAi, HasMoreWithoutCursorIsAParseError) {
    FakeTransport http;
    http.add(kCosts, R"({"object":"page","data":[],"has_more":true,"next_page":null})");
    auto d = provider_error([&] { make(http)->fetch_costs(kWindow, [](std::vector<CostRow> &&) {}); });
    EXPECT_EQ(d.kind, ProviderError::Kind::Parse);
    EXPECT_EQ(d.detail, "next_page: has_more is true but there is no cursor");
    http.add(kProjects, R"({"object":"list","data":[],"has_more":true})");
    d = provider_error([&] { make(http)->list_workspaces([](std::vector<Workspace> &&) {}); });
    EXPECT_EQ(d.detail, "last_id: missing");
}

TEST(OpenAi, MissingFieldNamesThePath) {
    FakeTransport http;
    http.add(kCosts, fixture("openai/costs_missing_value.json"));
    auto d = provider_error([&] { make(http)->fetch_costs(kWindow, [](std::vector<CostRow> &&) {}); });
    EXPECT_EQ(d.kind, ProviderError::Kind::Parse);
    EXPECT_EQ(d.provider, "openai");
    EXPECT_EQ(d.endpoint, kBase + "/v1/organization/costs");
    EXPECT_EQ(d.http_status, 200);
    EXPECT_EQ(d.detail, "data[1].results[0].amount.value: missing");
}

TEST(OpenAi, WrongTypeNamesThePath) {
    FakeTransport http;
    http.add(kCompletions, fixture("openai/completions_wrong_type.json"));
    auto d = provider_error([&] { make(http)->fetch_usage(kWindow, [](std::vector<UsageRow> &&) {}); });
    EXPECT_EQ(d.kind, ProviderError::Kind::Parse);
    EXPECT_EQ(d.endpoint, kBase + "/v1/organization/usage/completions");
    EXPECT_EQ(d.detail, "data[0].results[1].input_tokens: expected integer, got string");
}

TEST(OpenAi, MalformedBodyIsAParseError) {
    FakeTransport http;
    http.add(kProjects, R"({"object":"list","data":[{"id":)");
    auto d = provider_error([&] { make(http)->list_workspaces([](std::vector<Workspace> &&) {}); });
    EXPECT_EQ(d.kind, ProviderError::Kind::Parse);
    EXPECT_EQ(d.detail.rfind("invalid JSON at line 1", 0), 0u);
}

namespace {

// A usage page of one bucket holding `results` (JSON objects), for the arithmetic checks.
std::string usage_page(const std::string &results) {
    return R"({"object":"page","data":[{"object":"bucket","start_time":1767225600,"end_time":1767312000,"results":[)" +
           results + R"(]}],"has_more":false,"next_page":null})";
}

ProviderError::Details completions_error(const std::string &result) {
    FakeTransport http;
    http.add(kCompletions, usage_page(result));
    http.add(kEmbeddings, usage_page(""));
    return provider_error([&] { make(http)->fetch_usage(kWindow, [](std::vector<UsageRow> &&) {}); });
}

}  // namespace

// Sums that leave int64 fail naming the fields; they used to wrap (2 x INT64_MAX became -2).
TEST(OpenAi, TokenOverflowIsAnErrorNamingTheFields) {
    auto d = completions_error(R"({"input_tokens":5,"output_tokens":9223372036854775807,)"
                               R"("output_audio_tokens":9223372036854775807})");
    EXPECT_EQ(d.kind, ProviderError::Kind::Parse);
    EXPECT_EQ(d.detail, "data[0].results[0]: output_tokens + output_audio_tokens overflows a 64-bit integer");
    d = completions_error(
        R"({"input_tokens":5,"input_uncached_tokens":5,"input_audio_tokens":9223372036854775807,)"
        R"("input_cached_audio_tokens":9223372036854775807})");
    EXPECT_EQ(
        d.detail,
        "data[0].results[0]: input_audio_tokens + input_cached_audio_tokens overflows a 64-bit integer");
    d = completions_error(R"({"input_tokens":18446744073709551614})");
    EXPECT_EQ(d.detail, "data[0].results[0].input_tokens: integer out of range");
}

TEST(OpenAi, NegativeTokensAreAnErrorNamingTheField) {
    auto d = completions_error(R"({"input_tokens":-5})");
    EXPECT_EQ(d.kind, ProviderError::Kind::Parse);
    EXPECT_EQ(d.detail, "data[0].results[0].input_tokens: must not be negative, got -5");
    d = completions_error(R"({"input_tokens":5,"num_model_requests":-1})");
    EXPECT_EQ(d.detail, "data[0].results[0].num_model_requests: must not be negative, got -1");
    d = completions_error(R"({"input_tokens":5,"input_cached_tokens":6})");
    EXPECT_EQ(d.detail, "data[0].results[0]: input_cached_tokens is larger than input_tokens");
}

// A creation time that fits in int64 but in no timestamp used to be stored as 1969.
TEST(OpenAi, TimesOutsideTheCalendarAreAnError) {
    FakeTransport http;
    http.add(kProjects,
             R"({"object":"list","data":[{"id":"proj_A","name":"x","created_at":100000000000000000}],)"
             R"("has_more":false})");
    auto d = provider_error([&] { make(http)->list_workspaces([](std::vector<Workspace> &&) {}); });
    EXPECT_EQ(d.kind, ProviderError::Kind::Parse);
    EXPECT_EQ(d.detail, "data[0].created_at: time 100000000000000000 is outside the years 0001 to 9999");
}

// A provider that always has another page, each with a cursor never seen before.
class EndlessTransport : public HttpTransport {
  public:
    HttpResponse get(const HttpRequest &) override {
        ++stats_.requests;
        return HttpResponse{200,
                            R"({"object":"list","data":[],"has_more":true,"last_id":"p)" +
                                std::to_string(stats_.requests) + "\"}",
                            {}};
    }
    const HttpStats &stats() const override { return stats_; }

  private:
    HttpStats stats_;
};

TEST(OpenAi, EndlessPaginationStopsAtThePageBudget) {
    EndlessTransport http;
    AccountConfig config{"acct", "openai", "", "sk-admin-secret", 0, {}};
    config.limits.max_pages = 25;
    auto provider = find_provider("openai")->make(config, http);
    auto d = provider_error([&] { provider->list_workspaces([](std::vector<Workspace> &&) {}); });
    EXPECT_EQ(d.kind, ProviderError::Kind::PageLimit);
    EXPECT_EQ(http.stats().requests, 25);
    EXPECT_EQ(ProviderError(d).what(),
              std::string("openai GET https://api.openai.com/v1/organization/projects: too many pages: the "
                          "provider still had more after 25 "
                          "pages in one sync step (server option max_pages)"));
}

// Rows reach the sink in batches, never a whole large page at once.
TEST(OpenAi, RowsAreHandedOverInBatches) {
    std::string results;
    for (int i = 0; i < 2500; ++i) results += std::string(i ? "," : "") + R"({"input_tokens":1})";
    FakeTransport http;
    http.add(kCompletions, usage_page(results));
    http.add(kEmbeddings, usage_page(""));
    Pages<UsageRow> pages;
    make(http)->fetch_usage(kWindow, pages.sink());
    EXPECT_EQ(pages.sizes, (std::vector<size_t>{1000, 1000, 500}));
}
