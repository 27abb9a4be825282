// An HttpTransport that serves canned bodies keyed by full URL and records every request.
#pragma once

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "core/http.hpp"
#include "core/provider.hpp"
#include "core/records.hpp"

namespace aispend::test {

class FakeTransport : public core::HttpTransport {
  public:
    void add(const std::string &url, std::string body) { bodies_[url] = std::move(body); }
    // The URL fails as CurlTransport fails a non-2xx status: a ProviderError of kind Http (or Auth for
    // 401/403).
    void fail(const std::string &url, long status) { statuses_[url] = status; }
    // Served for any URL without a canned body (fuzzing); without it such a URL is a test failure.
    void set_fallback(std::string body) { fallback_ = std::move(body), has_fallback_ = true; }

    core::HttpResponse get(const core::HttpRequest &request) override {
        requests.push_back(request);
        stats_.requests += 1;
        core::HttpResponse response;
        response.status = 200;
        auto failed = statuses_.find(request.url);
        if (failed != statuses_.end()) {
            core::ProviderError::Details d;
            d.kind = failed->second == 401 || failed->second == 403 ? core::ProviderError::Kind::Auth
                                                                    : core::ProviderError::Kind::Http;
            d.provider = request.provider;
            d.http_status = failed->second;
            throw core::ProviderError(std::move(d));
        }
        auto it = bodies_.find(request.url);
        if (it != bodies_.end()) {
            response.body = it->second;
        } else if (has_fallback_) {
            response.body = fallback_;
        } else {
            throw std::runtime_error("FakeTransport: no canned response for " + request.url);
        }
        stats_.bytes += static_cast<long>(response.body.size());
        return response;
    }
    const core::HttpStats &stats() const override { return stats_; }

    std::vector<std::string> urls() const {
        std::vector<std::string> out;
        for (const auto &r : requests) out.push_back(r.url);
        return out;
    }

    std::vector<core::HttpRequest> requests;

  private:
    std::map<std::string, std::string> bodies_;
    std::map<std::string, long> statuses_;
    std::string fallback_;
    bool has_fallback_ = false;
    core::HttpStats stats_;
};

// Reads tests/unit/fixtures/<name>; tests run from the repository root (or set AISPEND_FIXTURES).
inline std::string fixture(const std::string &name) {
    const char *dir = std::getenv("AISPEND_FIXTURES");
    std::string path = std::string(dir ? dir : "tests/unit/fixtures") + "/" + name;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read fixture " + path + " (run from the repository root)");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Collects every page a sink receives: the rows and the page sizes.
template <typename T>
struct Pages {
    std::vector<T> rows;
    std::vector<size_t> sizes;
    core::PageSink<T> sink() {
        return [this](std::vector<T> &&page) {
            sizes.push_back(page.size());
            for (auto &r : page) rows.push_back(std::move(r));
        };
    }
};

// Runs fn, expecting a ProviderError whose message does not leak the test key; returns its details.
inline core::ProviderError::Details provider_error(const std::function<void()> &fn) {
    try {
        fn();
    } catch (const core::ProviderError &e) {
        EXPECT_EQ(std::string(e.what()).find("sk-admin-secret"), std::string::npos);
        return e.details();
    }
    ADD_FAILURE() << "no ProviderError";
    return {};
}

// Records as one "field=value" line each, so a mismatch shows as a readable diff; null prints as "-".
inline std::string show(const std::optional<std::string> &v) {
    return v ? "\"" + *v + "\"" : "-";
}
inline std::string show(const std::optional<int64_t> &v) {
    return v ? std::to_string(*v) : "-";
}
inline std::string show(const std::optional<bool> &v) {
    return v ? (*v ? "true" : "false") : "-";
}

inline std::string show(const core::Workspace &w) {
    return "id=" + w.id + " name=" + show(w.name) + " created=" + show(w.created_at) +
           " archived=" + show(w.archived_at) + " status=" + w.status + (w.is_default ? " DEFAULT" : "");
}

inline std::string show(const core::ApiKey &k) {
    return "id=" + k.id + " name=" + show(k.name) + " hint=" + show(k.hint) + " status=" + k.status +
           " ws=" + show(k.workspace_id) + " owner=" + show(k.owner) + " created=" + show(k.created_at) +
           " used=" + show(k.last_used_at);
}

inline std::string show(const core::UsageRow &u) {
    return u.endpoint + " [" + std::to_string(u.bucket_start) + "," + std::to_string(u.bucket_end) +
           ") ws=" + show(u.workspace_id) + " key=" + show(u.api_key_id) + " model=" + show(u.model) +
           " tier=" + show(u.service_tier) + " batch=" + show(u.batch) + " ctx=" + show(u.context_window) +
           " geo=" + show(u.inference_geo) + " uncached=" + show(u.uncached_input_tokens) +
           " read=" + show(u.cache_read_tokens) + " w5m=" + show(u.cache_write_5m_tokens) +
           " w1h=" + show(u.cache_write_1h_tokens) + " out=" + show(u.output_tokens) +
           " ain=" + show(u.input_audio_tokens) + " aout=" + show(u.output_audio_tokens) +
           " iin=" + show(u.input_image_tokens) + " iout=" + show(u.output_image_tokens) +
           " req=" + show(u.requests) + " web=" + show(u.web_search_requests);
}

inline std::string show(const core::CostRow &c) {
    return "[" + std::to_string(c.bucket_start) + "," + std::to_string(c.bucket_end) +
           ") ws=" + show(c.workspace_id) + " key=" + show(c.api_key_id) + " item=" + show(c.line_item) +
           " model=" + show(c.model) + " token=" + show(c.token_type) + " tier=" + show(c.service_tier) +
           " ctx=" + show(c.context_window) + " cost_type=" + show(c.cost_type) +
           " geo=" + show(c.inference_geo) + " usd=" + c.amount_usd + " " + c.currency +
           " qty=" + show(c.quantity) + " unit=" + show(c.quantity_unit) + " class=" + show(c.token_class);
}

template <typename T>
std::vector<std::string> show_all(const std::vector<T> &rows) {
    std::vector<std::string> out;
    for (const T &r : rows) out.push_back(show(r));
    return out;
}

}  // namespace aispend::test
