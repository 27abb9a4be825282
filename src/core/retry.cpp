// Retry policy: retryable statuses, Retry-After parsing, full-jitter exponential backoff, budget checks.
#include "core/retry.hpp"

#include <algorithm>
#include <random>

namespace aispend::core {

namespace {
constexpr long kMaxRetryAfterSeconds = 24L * 3600;  // beyond any deadline we accept; avoids overflow
}

bool is_retryable_status(long status) {
    switch (status) {
        case 429:
        case 500:
        case 502:
        case 503:
        case 504:
        case 529:
            return true;
        default:
            return false;
    }
}

std::optional<long> parse_retry_after(const std::string &value) {
    size_t begin = value.find_first_not_of(" \t");
    size_t end = value.find_last_not_of(" \t");
    if (begin == std::string::npos) return std::nullopt;
    long seconds = 0;
    for (size_t i = begin; i <= end; ++i) {
        char c = value[i];
        if (c < '0' || c > '9') return std::nullopt;
        seconds = std::min(kMaxRetryAfterSeconds, seconds * 10 + (c - '0'));
    }
    return seconds;
}

long backoff_delay_ms(const RetryPolicy &policy, int retry_index, const UniformRandom &random) {
    long ceiling = std::max(0L, policy.backoff_base_ms);
    for (int i = 0; i < retry_index && ceiling < policy.backoff_max_ms; ++i) ceiling *= 2;
    ceiling = std::min(ceiling, std::max(0L, policy.backoff_max_ms));
    double r = std::clamp(random(), 0.0, 1.0);
    return static_cast<long>(r * static_cast<double>(ceiling));
}

std::optional<long> next_retry_delay_ms(const RetryPolicy &policy, int retries_done, long remaining_ms,
                                        std::optional<long> retry_after_s, const UniformRandom &random) {
    if (retries_done >= policy.max_retries) return std::nullopt;
    long delay = retry_after_s ? *retry_after_s * 1000 : backoff_delay_ms(policy, retries_done, random);
    if (delay >= remaining_ms) return std::nullopt;
    return delay;
}

double default_uniform_random() {
    static std::mt19937_64 generator{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

}  // namespace aispend::core
