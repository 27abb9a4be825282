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
