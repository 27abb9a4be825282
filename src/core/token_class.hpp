// Keyword classification of billed cost lines into token classes, shared by OpenAI's free-text line_item
// kinds ("cached input (batch)") and Anthropic's structured token_type ("cache_read_input_tokens").
//
// The text is read as ASCII-lower-cased words: every ASCII character other than a letter or digit separates
// words ("_", "-", ".", "(", "|", ","...), bytes of multibyte characters belong to words. Rules, first match:
//   cache_write   a cache word (cache, cached, caching) and write/writes/written/creation/create/created
//   cached_input  "cached", or "cache" with read/reads/hit/hits ("uncached", "non cached", "not cached" are
//                 input, not cached)
//   audio_input, audio_output, image_input, image_output
//                 audio or image (not both) with exactly one direction below
//   input         input/inputs/prompt/prompts/uncached, and no output word
//   output        output/outputs/completion/completions/reasoning, and no input word
//   unrecognised  anything else (no direction, both directions, a lone "audio", an empty text)
#pragma once

#include <string_view>

#include "core/records.hpp"

namespace aispend::core {

// One of cache_write, cached_input, audio_input, audio_output, image_input, image_output, input, output,
// unrecognised (never "tool": only a whole line or a cost_type says that).
const char *classify_token_kind(std::string_view kind);

// "batch", "priority", "flex" or "scale" when the text has that word (the first one in the text), else
// nullopt.
OptStr tier_in(std::string_view text);

// Whether the text names a known tool or service billed without a model: file search, web search, code
// interpreter, vector store(s), vector storage, container(s), computer use, image generation.
bool names_known_tool(std::string_view text);

// Anthropic cost_report rows: token_type classified; else "tool" when cost_type is set and is not
// "tokens" (web_search, code_execution, session_usage, ...); else "unrecognised".
const char *anthropic_token_class(const OptStr &token_type, const OptStr &cost_type);

}  // namespace aispend::core
