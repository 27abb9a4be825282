// Retry policy of the HTTP transport: which outcomes are retried and how long to wait. Pure, no I/O.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace aispend::core {

struct RetryPolicy {
    int max_retries = 5;
    long backoff_base_ms = 500;
    long backoff_max_ms = 30000;
};

// Returns a number uniformly distributed in [0, 1).
using UniformRandom = std::function<double()>;

// 429, 500, 502, 503, 504 and 529 (Anthropic "overloaded").
bool is_retryable_status(long status);

// A Retry-After header in integer seconds; nullopt when absent, negative or not an integer (HTTP dates
// are not used by the providers and fall back to backoff).
std::optional<long> parse_retry_after(const std::string &value);

// Full-jitter exponential backoff before retry number retry_index (0 = first retry):
// uniform in [0, min(backoff_max_ms, backoff_base_ms * 2^retry_index)].
long backoff_delay_ms(const RetryPolicy &policy, int retry_index, const UniformRandom &random);

// The wait before the next attempt, or nullopt when the budget does not allow one: retries_done has reached
// max_retries, or the wait (Retry-After when given, backoff otherwise) would not end before the deadline.
std::optional<long> next_retry_delay_ms(const RetryPolicy &policy, int retries_done, long remaining_ms,
                                        std::optional<long> retry_after_s, const UniformRandom &random);

// The default random source (a per-process generator seeded from std::random_device).
double default_uniform_random();

}  // namespace aispend::core
