// The jansson wrapper: exact numbers, typed getters, and errors that name the JSON path.
#include <gtest/gtest.h>

#include "core/json.hpp"

using namespace aispend::core;

namespace {

JsonSource source() {
    return JsonSource{"openai", "/v1/organization/costs", 200};
}

// Runs fn and returns the Parse error's detail ("" when nothing was thrown).
template <typename Fn>
std::string parse_error(Fn &&fn) {
    try {
        fn();
    } catch (const ProviderError &e) {
        EXPECT_EQ(e.kind(), ProviderError::Kind::Parse);
        EXPECT_EQ(e.details().provider, "openai");
        EXPECT_EQ(e.details().endpoint, "/v1/organization/costs");
        return e.details().detail;
    }
    return "";
}

}  // namespace

TEST(Json, KeepsExactNumberText) {
    JsonDoc doc(R"({"a": 0.00032195744715549047, "b": 52.41558761812793, "c": 1e-5, "d": -2.50E1, "e": 7,
                   "f": [0.1, 2, {"g": 0.30000000000000004}], "h": 123456789012345678901234567890})",
                source());
    JsonRef r = doc.root();
    EXPECT_EQ(r.decimal("a"), "0.00032195744715549047");
    EXPECT_EQ(r.decimal("b"), "52.41558761812793");
    EXPECT_EQ(r.decimal("c"), "0.00001");
    EXPECT_EQ(r.decimal("d"), "-25.0");
    EXPECT_EQ(r.decimal("e"), "7");
    EXPECT_EQ(r.at("f")[0].as_decimal(), "0.1");
    EXPECT_EQ(r.at("f")[1].as_int(), 2);
    EXPECT_EQ(r.at("f")[2].decimal("g"), "0.30000000000000004");
    EXPECT_EQ(r.decimal("h"), "123456789012345678901234567890");
}

TEST(Json, StringsThatLookLikeNumbersStayStrings) {
    JsonDoc doc(R"({"1.5": "2.5", "s": "x 1.5e3 \"3.5\" \\", "k": [" 4.5", "-0.5"]})", source());
    JsonRef r = doc.root();
    EXPECT_EQ(r.str("1.5"), "2.5");
    EXPECT_EQ(r.str("s"), "x 1.5e3 \"3.5\" \\");
    EXPECT_EQ(r.at("k")[1].as_str(), "-0.5");
}

TEST(Json, IntegersAndBooleans) {
    JsonDoc doc(R"({"i": -9223372036854775807, "big": 99999999999999999999, "t": true, "n": null})",
                source());
    JsonRef r = doc.root();
    EXPECT_EQ(r.integer("i"), -9223372036854775807LL);
    EXPECT_TRUE(r.boolean("t"));
    EXPECT_EQ(r.opt_bool("n"), std::nullopt);
    EXPECT_EQ(parse_error([&] { r.integer("big"); }), "big: integer out of range");
}

TEST(Json, OptionalGettersTreatMissingAndNullAlike) {
    JsonDoc doc(R"({"n": null, "s": "x", "o": {"p": null}})", source());
    JsonRef r = doc.root();
    EXPECT_EQ(r.opt_str("n"), std::nullopt);
    EXPECT_EQ(r.opt_str("missing"), std::nullopt);
    EXPECT_EQ(r.opt_int("missing"), std::nullopt);
    EXPECT_EQ(r.opt_decimal("n"), std::nullopt);
    EXPECT_EQ(r.opt_str("s"), "x");
    EXPECT_FALSE(r.find("n").has_value());
    EXPECT_TRUE(r.at("n").is_null());
    EXPECT_EQ(r.at("o").opt_str("p"), std::nullopt);
}

TEST(Json, MissingFieldNamesItsPath) {
    JsonDoc doc(R"({"data": [{}, {}, {"results": [{"amount": {"currency": "usd"}}]}]})", source());
    JsonRef r = doc.root();
    EXPECT_EQ(parse_error([&] { r.at("data")[2].at("results")[0].at("amount").decimal("value"); }),
              "data[2].results[0].amount.value: missing");
    EXPECT_EQ(parse_error([&] { r.str("has_more"); }), "has_more: missing");
    EXPECT_EQ(parse_error([&] { r.at("data")[7]; }), "data: index 7 out of range");
}

TEST(Json, WrongTypeNamesPathAndTypes) {
    JsonDoc doc(
        R"({"data": [{"n": "12", "v": 1.5, "s": 3, "b": "yes", "a": {}, "z": null, "nested": [[1, null]]}]})",
        source());
    JsonRef d = doc.root().at("data")[0];
    EXPECT_EQ(parse_error([&] { d.integer("n"); }), "data[0].n: expected integer, got string");
    EXPECT_EQ(parse_error([&] { d.integer("v"); }), "data[0].v: expected integer, got number");
    EXPECT_EQ(parse_error([&] { d.str("s"); }), "data[0].s: expected string, got integer");
    EXPECT_EQ(parse_error([&] { d.str("v"); }), "data[0].v: expected string, got number");
    EXPECT_EQ(parse_error([&] { d.opt_bool("b"); }), "data[0].b: expected boolean, got string");
    EXPECT_EQ(parse_error([&] { d.decimal("n"); }), "data[0].n: expected number, got string");
    EXPECT_EQ(parse_error([&] { d.at("a").size(); }), "data[0].a: expected array, got object");
    EXPECT_EQ(parse_error([&] { d.str("z"); }), "data[0].z: expected string, got null");
    EXPECT_EQ(parse_error([&] { d.at("nested")[0][1].as_str(); }),
              "data[0].nested[0][1]: expected string, got null");
    EXPECT_EQ(parse_error([&] { d.at("s").at("x"); }), "data[0].s: expected object, got integer");
}

TEST(Json, RejectsMalformedDocuments) {
    EXPECT_EQ(parse_error([] { JsonDoc(R"({"a": )", source()); }).rfind("invalid JSON at line 1", 0), 0u);
    EXPECT_EQ(parse_error([] { JsonDoc("[1, 2]", source()); }),
              "invalid JSON: the top level is not an object");
    EXPECT_NE(parse_error([] { JsonDoc(R"({"a": 1.5.5})", source()); }), "");
    EXPECT_NE(parse_error([] { JsonDoc(R"({1.5: 2})", source()); }), "");
    EXPECT_NE(parse_error([] { JsonDoc(R"({"a": 1, 2.5: 3})", source()); }), "");
    EXPECT_NE(parse_error([] { JsonDoc(R"({"a": 01.5})", source()); }), "");
    EXPECT_NE(parse_error([] { JsonDoc("", source()); }), "");
    EXPECT_EQ(parse_error([] { JsonDoc(R"({"a": "x\u0000y"})", source()); }),
              "invalid JSON: string contains \\u0000 at byte 8");
}

TEST(Json, DocumentsMove) {
    JsonDoc a(R"({"v": 2.5})", source());
    JsonDoc b(std::move(a));
    EXPECT_EQ(b.root().decimal("v"), "2.5");
}

namespace {

// A page of n tiny results: little text, many values.
std::string tiny_results(size_t n) {
    std::string text = "{\"data\":[";
    for (size_t i = 0; i < n; ++i) text += i ? ",{\"a\":1}" : "{\"a\":1}";
    return text + "],\"has_more\":false}";
}

ProviderError::Kind failure_kind(std::string_view text, const ParseLimits &limits) {
    try {
        JsonDoc doc(text, source(), limits);
    } catch (const ProviderError &e) {
        return e.kind();
    }
    return ProviderError::Kind::Http;  // "no failure" in these tests
}

}  // namespace

// The tree of many tiny values takes many times the text: the arena stops at the budget.
TEST(Json, ParseMemoryIsBounded) {
    const std::string text = tiny_results(200000);  // 1.6 MB of text
    ParseLimits small;
    small.max_parse_bytes = 16u << 20;
    EXPECT_EQ(failure_kind(text, small), ProviderError::Kind::BodyTooLarge);
    try {
        JsonDoc doc(text, source(), small);
    } catch (const ProviderError &e) {
        EXPECT_STREQ(e.what(),
                     "openai GET /v1/organization/costs: response too large: parsing it needs more than 16 "
                     "MiB (aispend.max_parse_mb) (after 0 retries)");
    }
    ParseLimits roomy;
    roomy.max_parse_bytes = 512u << 20;
    JsonDoc doc(text, source(), roomy);
    EXPECT_EQ(doc.root().at("data").size(), 200000u);
}

// Exact number text is kept in a rewritten copy, which counts against the budget too.
TEST(Json, RewrittenNumbersCountAgainstTheBudget) {
    std::string text = "{\"data\":[";
    for (int i = 0; i < 300000; ++i) text += i ? ",1.5" : "1.5";
    text += "]}";
    ParseLimits limits;
    limits.max_parse_bytes = 2u << 20;
    EXPECT_EQ(failure_kind(text, limits), ProviderError::Kind::BodyTooLarge);
}

TEST(Json, CancellationIsPolledWhileParsing) {
    const std::string text = tiny_results(600000);  // ~4.8 MB: several polls
    int polls = 0;
    ParseLimits limits;
    limits.max_parse_bytes = 1u << 30;
    limits.should_cancel = [&] { return ++polls >= 3; };
    EXPECT_EQ(failure_kind(text, limits), ProviderError::Kind::Cancelled);
    EXPECT_EQ(polls, 3);
    polls = -1000;  // never cancels: every MiB polled once
    JsonDoc doc(text, source(), limits);
    EXPECT_GE(polls + 1000, 8);
}

// jansson's "near '<token>'" would echo whatever answered (a banner, bytes that are not UTF-8).
TEST(Json, ParseErrorsDoNotEchoTheBody) {
    EXPECT_EQ(parse_error([] { JsonDoc("SSH-2.0-OpenSSH_9.2p1 Debian", source()); }),
              "invalid JSON at line 1 column 3: '[' or '{' expected");
    EXPECT_EQ(parse_error([] { JsonDoc("{\"name\": \"caf\xE9\"}", source()); }),
              "invalid JSON at line 1 column 13: unable to decode byte 0xe9");
}

TEST(Json, CountsAndTimesAreChecked) {
    JsonDoc doc(
        "{\"n\": -1, \"big\": 9223372036854775807, \"t\": 100000000000000000, \"ok\": 1767225600, "
        "\"old\": -62135596800, \"over\": 18446744073709551614}",
        source());
    JsonRef r = doc.root();
    EXPECT_EQ(parse_error([&] { r.count("n"); }), "n: must not be negative, got -1");
    EXPECT_EQ(r.count("big"), INT64_MAX);
    EXPECT_EQ(parse_error([&] { r.count("over"); }), "over: integer out of range");
    EXPECT_EQ(parse_error([&] { r.opt_unix_time("t"); }),
              "t: time 100000000000000000 is outside the years 0001 to 9999");
    EXPECT_EQ(r.unix_time("ok"), 1767225600);
    EXPECT_EQ(r.unix_time("old"), -62135596800);
    EXPECT_EQ(r.opt_count("missing"), std::nullopt);
}
