// Best-effort reading of OpenAI cost line_item strings, "[<surface> | ]<model-or-service>[, <kind>]":
// "gpt-4o-2024-08-06, input", "evals | gpt-4o-mini-2024-07-18, cached input", "assistants api | file search".
#pragma once

#include <string_view>

#include "core/records.hpp"

namespace aispend::core {

struct LineItem {
    OptStr surface;  // "evals", "assistants api"; nullopt for plain model lines
    OptStr model;    // set only when a ", <kind>" suffix follows a single-word name
    OptStr kind;     // lower-cased: "input", "output", "cached input", ...
};

LineItem parse_line_item(std::string_view text);

}  // namespace aispend::core
