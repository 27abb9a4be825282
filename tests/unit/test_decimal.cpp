// Exact decimal text (money) and RFC 3339 time conversions.
#include <gtest/gtest.h>

#include <stdexcept>

#include "core/decimal.hpp"
#include "core/timeutil.hpp"

using namespace aispend::core;

TEST(CentsToDollars, ShiftsThePointTwoPlaces) {
    EXPECT_EQ(cents_to_dollars("123.78912"), "1.2378912");
    EXPECT_EQ(cents_to_dollars("0.1"), "0.001");
    EXPECT_EQ(cents_to_dollars("1500"), "15");
    EXPECT_EQ(cents_to_dollars("4182.5625"), "41.825625");
    EXPECT_EQ(cents_to_dollars("45.702"), "0.45702");
    EXPECT_EQ(cents_to_dollars("14"), "0.14");
    EXPECT_EQ(cents_to_dollars("5"), "0.05");
    EXPECT_EQ(cents_to_dollars("100"), "1");
    EXPECT_EQ(cents_to_dollars("1.000000"), "0.01");
    EXPECT_EQ(cents_to_dollars("0"), "0");
    EXPECT_EQ(cents_to_dollars("0.00"), "0");
    EXPECT_EQ(cents_to_dollars("007.5"), "0.075");
    EXPECT_EQ(cents_to_dollars("123456789012345678901234567890.123456789"),
              "1234567890123456789012345678.90123456789");
}

TEST(CentsToDollars, Negative) {
    EXPECT_EQ(cents_to_dollars("-250"), "-2.5");
    EXPECT_EQ(cents_to_dollars("-0.1"), "-0.001");
    EXPECT_EQ(cents_to_dollars("-0"), "0");
}

TEST(CentsToDollars, RejectsMalformedText) {
    for (const char *bad :
         {"", "-", ".5", "5.", "1,5", "1e3", "+5", " 5", "5 ", "1.2.3", "0x10", "NaN", "--1"}) {
        EXPECT_THROW(cents_to_dollars(bad), std::invalid_argument) << bad;
    }
    try {
        cents_to_dollars("12,50");
        FAIL();
    } catch (const std::invalid_argument &e) {
        EXPECT_STREQ(e.what(),
                     "invalid cents amount \"12,50\": expected a decimal string such as \"123.45\"");
    }
}

TEST(PlainDecimal, KeepsDigitsAsSent) {
    EXPECT_EQ(plain_decimal("0.00032195744715549047"), "0.00032195744715549047");
    EXPECT_EQ(plain_decimal("0.02750000000000000"), "0.02750000000000000");
    EXPECT_EQ(plain_decimal("52.41558761812793"), "52.41558761812793");
    EXPECT_EQ(plain_decimal("-3"), "-3");
    EXPECT_EQ(plain_decimal("0"), "0");
}

TEST(PlainDecimal, FoldsExponents) {
    EXPECT_EQ(plain_decimal("1e-5"), "0.00001");
    EXPECT_EQ(plain_decimal("1.2E-5"), "0.000012");
    EXPECT_EQ(plain_decimal("2.50E1"), "25.0");
    EXPECT_EQ(plain_decimal("1.5e3"), "1500");
    EXPECT_EQ(plain_decimal("1.5e+3"), "1500");
    EXPECT_EQ(plain_decimal("-4.2e-1"), "-0.42");
    EXPECT_EQ(plain_decimal("0e5"), "0");
    EXPECT_EQ(plain_decimal("0.05e1"), "0.5");
    EXPECT_EQ(plain_decimal("123e-2"), "1.23");
}

TEST(PlainDecimal, RejectsNonNumbers) {
    for (const char *bad : {"", "-", "01", "1.", ".1", "1e", "1e+", "1x", "abc", "1e1001"}) {
        EXPECT_THROW(plain_decimal(bad), std::invalid_argument) << bad;
    }
}

TEST(TimeUtil, ParsesRfc3339) {
    EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(parse_rfc3339("2025-08-01T00:00:00Z"), 1754006400);
    EXPECT_EQ(parse_rfc3339("2026-01-01T00:00:00Z"), 1767225600);
    EXPECT_EQ(parse_rfc3339("2024-10-30T23:58:27.427722Z"), 1730332707);
    EXPECT_EQ(parse_rfc3339("2025-08-01T02:00:00+02:00"), 1754006400);
    EXPECT_EQ(parse_rfc3339("2025-07-31T19:30:00-04:30"), 1754006400);
    EXPECT_EQ(parse_rfc3339("2024-02-29t12:00:00z"), 1709208000);
    EXPECT_EQ(parse_rfc3339("1969-12-31T23:59:59Z"), -1);
}

TEST(TimeUtil, RejectsMalformedTimes) {
    for (const char *bad :
         {"", "2025-08-01", "2025-08-01T00:00:00", "2025-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
          "2025-08-01T24:00:00Z", "2025-08-01T00:00:00.Z", "2025-08-01T00:00:00Zx", "2025-08-01 00:00:00Z",
          "2025-08-01T00:00:00+0200", "25-08-01T00:00:00Z"}) {
        EXPECT_FALSE(parse_rfc3339(bad).has_value()) << bad;
    }
}

TEST(TimeUtil, FormatsAndRoundTrips) {
    EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339(1767225600), "2026-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59Z");
    for (int64_t t : {int64_t{951782400}, int64_t{1709208000}, int64_t{4102444799}, int64_t{1754006461}}) {
        EXPECT_EQ(parse_rfc3339(format_rfc3339(t)), t);
    }
}
