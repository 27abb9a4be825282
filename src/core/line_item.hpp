// Best-effort reading of OpenAI cost line_item strings, "[<surface> | ]<model>, <kind>":
// "gpt-4o-2024-08-06, input", "evals | gpt-4o-mini-2024-07-18, cached input", "assistants api | file search".
// The line is split at its first comma; before it, the last " | " separates a surface from the model. The
// model is kept whenever it is a single token (no whitespace, comma or '|'), whatever the kind looks like.
#pragma once

#include <string>
#include <string_view>

#include "core/records.hpp"

namespace aispend::core {

struct LineItem {
    OptStr surface;  // "evals", "assistants api"; nullopt for plain model lines
    OptStr model;    // set only when a ", <kind>" follows a single-token name
    OptStr kind;     // the text after the first comma, trimmed and ASCII-lower-cased: "cached input (batch)"
    // classify_token_kind(kind) for a line with a model; "tool" for a line without one that names a known
    // tool (names_known_tool); else "unrecognised".
    std::string token_class;
    OptStr tier;  // tier_in(kind): "batch", "priority", "flex", "scale"
};

LineItem parse_line_item(std::string_view text);

}  // namespace aispend::core
