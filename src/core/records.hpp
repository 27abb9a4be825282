// Plain records that providers produce and the PostgreSQL layer stores. No behaviour, no PostgreSQL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace aispend::core {

using OptStr = std::optional<std::string>;
using OptInt = std::optional<int64_t>;
using UnixSeconds = int64_t;  // UTC

struct Workspace {
    std::string id;
    OptStr name;
    std::optional<UnixSeconds> created_at;
    std::optional<UnixSeconds> archived_at;
    std::string status;       // provider's value, or derived: "active" / "archived"; unknown values kept
    bool is_default = false;  // Anthropic's default workspace (reports name it by workspace_id null)
};

struct ApiKey {
    std::string id;
    OptStr name;
    OptStr hint;  // redacted value / partial hint as the provider shows it
    std::string
        status;  // "active", "inactive", "archived", "expired", ... (OpenAI lists only live keys: "active")
    OptStr workspace_id;  // project / workspace; nullopt = Anthropic default workspace
    OptStr owner;         // user email or name, or service account name
    std::optional<UnixSeconds> created_at;
    std::optional<UnixSeconds> last_used_at;
};

// One usage result in one bucket. Token fields are normalised so that
//   uncached_input + cache_read + cache_write_5m + cache_write_1h = all input tokens (every modality)
//   output = all output tokens (every modality)
// audio / image fields are informational subsets. A field the provider did not send is nullopt, never 0.
struct UsageRow {
    std::string endpoint;  // "completions", "embeddings" (OpenAI); "messages" (Anthropic)
    UnixSeconds bucket_start = 0;
    UnixSeconds bucket_end = 0;
    OptStr workspace_id;  // nullopt: Anthropic default workspace (or OpenAI usage without a project)
    OptStr api_key_id;    // nullopt: Anthropic Console usage, or no key
    OptStr model;
    OptStr service_tier;  // unknown values kept as text
    std::optional<bool> batch;
    OptStr context_window;
    OptStr inference_geo;
    OptInt uncached_input_tokens;
    OptInt cache_read_tokens;
    OptInt cache_write_5m_tokens;  // OpenAI's single cache-write kind is stored here
    OptInt cache_write_1h_tokens;
    OptInt output_tokens;
    OptInt input_audio_tokens;
    OptInt output_audio_tokens;
    OptInt input_image_tokens;
    OptInt output_image_tokens;
    OptInt requests;  // OpenAI num_model_requests; Anthropic reports none (nullopt)
    OptInt web_search_requests;
};

// One billed cost line for one UTC day.
struct CostRow {
    UnixSeconds bucket_start = 0;  // UTC midnight
    UnixSeconds bucket_end = 0;
    OptStr workspace_id;  // nullopt: Anthropic default workspace
    OptStr api_key_id;    // only OpenAI's newer costs API
    OptStr line_item;     // raw OpenAI line_item or Anthropic description
    OptStr model;         // Anthropic structured field; OpenAI parsed from line_item (best effort)
    OptStr token_type;    // Anthropic token_type; OpenAI parsed kind ("input", "output", "cached input", ...)
    OptStr service_tier;
    OptStr context_window;
    OptStr cost_type;  // Anthropic cost_type
    OptStr inference_geo;
    std::string amount_usd;  // exact decimal text in US dollars (Anthropic cents already divided by 100)
    std::string currency;    // as sent, upper-cased: "USD"
    OptStr quantity;         // exact decimal text
    OptStr quantity_unit;
    OptStr token_class;  // core/token_class.hpp: "input", "cached_input", ..., "tool", "unrecognised"
};

// A half-open UTC window [start, end) aligned to bucket boundaries by the caller.
struct Window {
    UnixSeconds start = 0;
    UnixSeconds end = 0;
    std::string bucket_width = "1d";  // "1d" or "1h" (costs are always 1d)
};

}  // namespace aispend::core
