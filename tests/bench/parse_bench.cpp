// Parse throughput on one core: a large synthetic usage page per provider, served repeatedly through a canned
// transport and turned into UsageRows by the real provider code. Prints provider, MB/s, records/s and peak
// RSS.
#include <sys/resource.h>

#include <cstdio>
#include <string>

#include "core/provider.hpp"

using namespace aispend::core;

namespace {

class CannedTransport : public HttpTransport {
  public:
    explicit CannedTransport(const std::string &body) : body_(body) {}
    HttpResponse get(const HttpRequest &) override {
        stats_.requests += 1;
        stats_.bytes += static_cast<long>(body_.size());
        return HttpResponse{200, body_, {}};
    }
    const HttpStats &stats() const override { return stats_; }

  private:
    const std::string &body_;
    HttpStats stats_;
};

std::string openai_page(int buckets, int results) {
    std::string s = R"({"object":"page","data":[)";
    for (int b = 0; b < buckets; ++b) {
        long start = 1767225600L + b * 86400L;
        s += (b ? "," : "") + std::string(R"({"object":"bucket","start_time":)") + std::to_string(start) +
             R"(,"end_time":)" + std::to_string(start + 86400) + R"(,"results":[)";
        for (int r = 0; r < results; ++r) {
            std::string i = std::to_string(r * 7919 + b + 1);
            s += (r ? "," : "") +
                 std::string(R"({"object":"organization.usage.completions.result","input_tokens":)") + i +
                 R"(0,"input_cached_tokens":)" + i +
                 R"(,"input_cache_write_tokens":12,"input_uncached_tokens":)" + i + R"(3,"output_tokens":)" +
                 i + R"(1,"input_text_tokens":)" + i +
                 R"(,"output_text_tokens":900,"input_cached_text_tokens":5,"input_audio_tokens":0,)"
                 R"("input_cached_audio_tokens":0,"output_audio_tokens":0,"input_image_tokens":0,)"
                 R"("input_cached_image_tokens":0,"output_image_tokens":0,"num_model_requests":318,)"
                 R"("project_id":"proj_7Qm2XbLk9VtR4sWn1cHe8JdA","user_id":null,"api_key_id":"key_Zp3LmQ8r)" +
                 std::to_string(r % 50) +
                 R"(","model":"gpt-5-mini-2025-08-07","batch":false,"service_tier":"default"})";
        }
        s += "]}";
    }
    return s + R"(],"has_more":false,"next_page":null})";
}

std::string anthropic_page(int buckets, int results) {
    std::string s = R"({"data":[)";
    for (int b = 0; b < buckets; ++b) {
        std::string day = std::to_string(10 + b % 18);
        s += (b ? "," : "") + std::string(R"({"starting_at":"2026-01-)") + day +
             R"(T00:00:00Z","ending_at":"2026-01-)" + std::to_string(11 + b % 18) +
             R"(T00:00:00Z","results":[)";
        for (int r = 0; r < results; ++r) {
            std::string i = std::to_string(r * 7919 + b + 1);
            s += (r ? "," : "") + std::string(R"({"uncached_input_tokens":)") + i +
                 R"(,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":)" + i +
                 R"(},"cache_read_input_tokens":)" + i + R"(7,"output_tokens":)" + i +
                 R"(,"server_tool_use":{"web_search_requests":1},"api_key_id":"apikey_01Hx7QpL2mN8vR4tW6yZ)" +
                 std::to_string(r % 50) +
                 R"(","workspace_id":"wrkspc_01Kd9FgH3jL5nP7rT9vX1zCe","model":"claude-sonnet-4-5-20250929",)"
                 R"("service_tier":"standard","context_window":"0-200k","inference_geo":"global"})";
        }
        s += "]}";
    }
    return s + R"(],"has_more":false,"next_page":null})";
}

// CPU time of this process (user + system): the machine is shared, so wall time would measure the neighbours.
double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
           (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

long peak_rss_kb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

void run(const char *provider, const std::string &page, int iterations, FILE *report) {
    CannedTransport http(page);
    auto p = find_provider(provider)->make(AccountConfig{"bench", provider, "", "k", 0, {}}, http);
    size_t records = 0;
    double t0 = cpu_seconds();
    for (int i = 0; i < iterations; ++i) {
        p->fetch_usage(Window{1767225600, 1769904000, "1d"},
                       [&](std::vector<UsageRow> &&rows) { records += rows.size(); });
    }
    double secs = cpu_seconds() - t0;
    double mb = static_cast<double>(http.stats().bytes) / 1e6;
    for (FILE *f : {stdout, report}) {
        std::fprintf(f, "%-10s %9.1f %10.1f %12.0f %12.1f\n", provider, page.size() / 1e6, mb / secs,
                     records / secs, peak_rss_kb() / 1024.0);
    }
}

}  // namespace

int main(int argc, char **argv) {
    const char *out = argc > 1 ? argv[1] : "tests/bench/results/parse.txt";
    FILE *report = std::fopen(out, "w");
    if (report == nullptr) {
        std::perror(out);
        return 1;
    }
    for (FILE *f : {stdout, report}) {
        std::fprintf(f, "%-10s %9s %10s %12s %12s\n", "provider", "page MB", "MB/s", "records/s",
                     "peak RSS MB");
    }
    run("openai", openai_page(31, 600), 5, report);
    run("anthropic", anthropic_page(31, 600), 5, report);
    std::fclose(report);
    return 0;
}
