#include <gtest/gtest.h>

#include "core/retry.hpp"

using namespace aispend::core;

namespace {
UniformRandom fixed(double value) {
    return [value] { return value; };
}
}  // namespace

TEST(Retry, RetryableStatuses) {
    for (long status : {429, 500, 502, 503, 504, 529}) EXPECT_TRUE(is_retryable_status(status)) << status;
    for (long status : {200, 400, 401, 403, 404, 413, 501, 505})
        EXPECT_FALSE(is_retryable_status(status)) << status;
}

TEST(Retry, ParsesRetryAfterSeconds) {
    EXPECT_EQ(parse_retry_after("7"), 7);
    EXPECT_EQ(parse_retry_after(" 0 "), 0);
    EXPECT_EQ(parse_retry_after("99999999999999999999"), 24L * 3600);
    EXPECT_FALSE(parse_retry_after(""));
    EXPECT_FALSE(parse_retry_after("-1"));
    EXPECT_FALSE(parse_retry_after("1.5"));
    EXPECT_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
}

TEST(Retry, BackoffDoublesUpToTheCap) {
    RetryPolicy policy{5, 500, 3000};
    EXPECT_EQ(backoff_delay_ms(policy, 0, fixed(1.0)), 500);
    EXPECT_EQ(backoff_delay_ms(policy, 1, fixed(1.0)), 1000);
    EXPECT_EQ(backoff_delay_ms(policy, 2, fixed(1.0)), 2000);
    EXPECT_EQ(backoff_delay_ms(policy, 3, fixed(1.0)), 3000);
    EXPECT_EQ(backoff_delay_ms(policy, 60, fixed(1.0)), 3000);
}

TEST(Retry, BackoffHasFullJitter) {
    RetryPolicy policy{5, 500, 30000};
    EXPECT_EQ(backoff_delay_ms(policy, 2, fixed(0.0)), 0);
    EXPECT_EQ(backoff_delay_ms(policy, 2, fixed(0.25)), 500);
    for (int i = 0; i < 1000; ++i) {
        long delay = backoff_delay_ms(policy, 3, default_uniform_random);
        ASSERT_GE(delay, 0);
        ASSERT_LE(delay, 4000);
    }
}

TEST(Retry, StopsAtMaxRetries) {
    RetryPolicy policy{2, 100, 1000};
    EXPECT_TRUE(next_retry_delay_ms(policy, 0, 60000, std::nullopt, fixed(0.5)));
    EXPECT_TRUE(next_retry_delay_ms(policy, 1, 60000, std::nullopt, fixed(0.5)));
    EXPECT_FALSE(next_retry_delay_ms(policy, 2, 60000, std::nullopt, fixed(0.5)));
    EXPECT_FALSE(next_retry_delay_ms(RetryPolicy{0, 100, 1000}, 0, 60000, std::nullopt, fixed(0.5)));
}

TEST(Retry, RetryAfterWinsOverBackoff) {
    RetryPolicy policy{5, 100, 1000};
    EXPECT_EQ(next_retry_delay_ms(policy, 0, 60000, 7, fixed(0.5)), 7000);
    EXPECT_EQ(next_retry_delay_ms(policy, 0, 60000, 0, fixed(0.5)), 0);
}

TEST(Retry, NoRetryThatWouldPassTheDeadline) {
    RetryPolicy policy{5, 1000, 1000};
    EXPECT_FALSE(next_retry_delay_ms(policy, 0, 7000, 7, fixed(0.5)));
    EXPECT_EQ(next_retry_delay_ms(policy, 0, 7001, 7, fixed(0.5)), 7000);
    EXPECT_FALSE(next_retry_delay_ms(policy, 0, 400, std::nullopt, fixed(0.5)));
    EXPECT_EQ(next_retry_delay_ms(policy, 0, 501, std::nullopt, fixed(0.5)), 500);
}
