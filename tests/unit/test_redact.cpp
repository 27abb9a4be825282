// Masking an admin key and its echoes.
#include <gtest/gtest.h>

#include <string>

#include "core/redact.hpp"

using namespace aispend::core;

namespace {
const std::string kKey = "sk-admin-Zq81xLmP0aQw73NbVcXe";
const Redactor kRedactor({kKey});
}  // namespace

TEST(Redact, TheKeyInAnyCase) {
    EXPECT_EQ(kRedactor.apply("bad key " + kKey + "!"), "bad key [redacted]!");
    EXPECT_EQ(kRedactor.apply("SK-ADMIN-ZQ81XLMP0AQW73NBVCXE"), "[redacted]");
    EXPECT_EQ(kRedactor.apply("sk-admin-zq81xlmp0aqw73nbvcxe and again sk-admin-zq81xlmp0aqw73nbvcxe"),
              "[redacted] and again [redacted]");
}

TEST(Redact, TruncatedEchoes) {
    EXPECT_EQ(kRedactor.apply("starts sk-admin-Zq81xLmP..."), "starts [redacted]...");  // 8 past the prefix
    EXPECT_EQ(kRedactor.apply("ends ...73NbVcXe"), "ends ...[redacted]");               // last 8
    EXPECT_EQ(kRedactor.apply("ends ...73nbvcxe"), "ends ...[redacted]");
    // short echoes are the providers' own hints and stay: public prefix + 7, last 7, first 5 + last 4
    EXPECT_EQ(kRedactor.apply("sk-admin-Zq81xLm"), "sk-admin-Zq81xLm");
    EXPECT_EQ(kRedactor.apply("...3NbVcXe"), "...3NbVcXe");
    EXPECT_EQ(kRedactor.apply("Incorrect API key provided: sk-ad***...cXe"),
              "Incorrect API key provided: sk-ad***...cXe");
    // our own hints name the public prefixes
    EXPECT_EQ(kRedactor.apply("OpenAI \"sk-admin-...\", Anthropic \"sk-ant-admin...\""),
              "OpenAI \"sk-admin-...\", Anthropic \"sk-ant-admin...\"");
}

TEST(Redact, Base64AtEachAlignment) {
    // base64("sk-admin-Zq81xLmP0aQw73NbVcXe"), base64("Bearer " + key), base64("u:" + key), URL-safe alphabet
    EXPECT_EQ(kRedactor.apply("c2stYWRtaW4tWnE4MXhMbVAwYVF3NzNOYlZjWGU="), "[redacted]");
    EXPECT_EQ(kRedactor.apply("QmVhcmVyIHNrLWFkbWluLVpxODF4TG1QMGFRdzczTmJWY1hl"), "QmVhcmVyIHNr[redacted]");
    EXPECT_EQ(kRedactor.apply("dTpzay1hZG1pbi1acTgxeExtUDBhUXc3M05iVmNYZQ=="), "dTpz[redacted]");
    const Redactor slashy({"sk-admin-???\?>>>>???\?>>>>????"});  // \? : no "??>" trigraph
    EXPECT_EQ(slashy.apply("c2stYWRtaW4tPz8_Pz4-Pj4_Pz8_Pj4-Pj8_Pz8"), "[redacted]");
}

TEST(Redact, ShortKeysOnlyWhole) {
    const Redactor short_key({"sk-short-1"});
    EXPECT_EQ(short_key.apply("x sk-short-1 y SK-SHORT-1 sk-short"), "x [redacted] y [redacted] sk-short");
}

TEST(Redact, SeveralSecretsAndNone) {
    const Redactor two({kKey, "sk-ant-admin01-Hy7TgBv3NcXzQ9aLkPm2", ""});
    EXPECT_EQ(two.apply(kKey + " / sk-ant-admin01-Hy7TgBv3NcXzQ9aLkPm2"), "[redacted] / [redacted]");
    EXPECT_EQ(Redactor().apply("nothing to hide"), "nothing to hide");
    EXPECT_EQ(header_secret("Bearer " + kKey), kKey);
    EXPECT_EQ(header_secret(kKey), kKey);
}
