// OpenAI line_item parsing and the token classes, over tables of real and invented strings.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/line_item.hpp"
#include "core/token_class.hpp"

using namespace aispend::core;

namespace {

struct Case {
    std::string text;
    OptStr surface, model, kind;
    std::string token_class;
    OptStr tier;
};

const OptStr none = std::nullopt;

std::string show(const OptStr &v) {
    return v ? "\"" + *v + "\"" : "-";
}

std::string show(const LineItem &item) {
    return "surface=" + show(item.surface) + " model=" + show(item.model) + " kind=" + show(item.kind) +
           " class=" + item.token_class + " tier=" + show(item.tier);
}

const std::string kLong(100000, 'x');

}  // namespace

TEST(OpenAiLineItem, ParsesEveryVariant) {
    const std::vector<Case> cases = {
        // documented real strings (provider-apis.md 3.2) and the spec's examples that do not match them
        {"gpt-4o-2024-08-06, input", none, "gpt-4o-2024-08-06", "input", "input", none},
        {"ft-gpt-4o-2024-08-06, output", none, "ft-gpt-4o-2024-08-06", "output", "output", none},
        {"evals | gpt-4o-mini-2024-07-18, cached input", "evals", "gpt-4o-mini-2024-07-18", "cached input",
         "cached_input", none},
        {"evals | gpt-4o-mini-2024-07-18, input", "evals", "gpt-4o-mini-2024-07-18", "input", "input", none},
        {"assistants api | file search", "assistants api", none, none, "tool", none},
        {"Image models", none, none, none, "unrecognised", none},
        {"input_tokens", none, none, none, "unrecognised", none},
        {"gpt-5-mini-2025-08-07, output", none, "gpt-5-mini-2025-08-07", "output", "output", none},
        {"gpt-4o-2024-08-06, Input", none, "gpt-4o-2024-08-06", "input", "input", none},
        // invented: suffixes, parentheses, pipes, commas, tiers
        {"gpt-4o-2024-08-06, cached input (batch)", none, "gpt-4o-2024-08-06", "cached input (batch)",
         "cached_input", "batch"},
        {"gpt-5, output | priority", none, "gpt-5", "output | priority", "output", "priority"},
        {"gpt-4o, Input (Batch)", none, "gpt-4o", "input (batch)", "input", "batch"},
        {"Input (Batch)", none, none, none, "unrecognised", none},
        {"gpt-5, output | flex", none, "gpt-5", "output | flex", "output", "flex"},
        {"o3, cached input, priority", none, "o3", "cached input, priority", "cached_input", "priority"},
        {"gpt-5, input, SCALE tier", none, "gpt-5", "input, scale tier", "input", "scale"},
        {"gpt-4o, input (batch, priority)", none, "gpt-4o", "input (batch, priority)", "input", "batch"},
        {"gpt-4o, batchinput", none, "gpt-4o", "batchinput", "unrecognised", none},
        {"evals | gpt-4o, input | batch", "evals", "gpt-4o", "input | batch", "input", "batch"},
        {"a | b | gpt-4o, output", "a | b", "gpt-4o", "output", "output", none},
        {"gpt-4o, prompt", none, "gpt-4o", "prompt", "input", none},
        {"gpt-4o, completion", none, "gpt-4o", "completion", "output", none},
        {"o1, reasoning output", none, "o1", "reasoning output", "output", none},
        {"o1, reasoning", none, "o1", "reasoning", "output", none},
        {"gpt-4o, uncached input", none, "gpt-4o", "uncached input", "input", none},
        {"gpt-4o, non-cached input", none, "gpt-4o", "non-cached input", "input", none},
        {"gpt-4o, cache read", none, "gpt-4o", "cache read", "cached_input", none},
        {"gpt-4o, cache hit", none, "gpt-4o", "cache hit", "cached_input", none},
        {"gpt-4o, cache write (1h)", none, "gpt-4o", "cache write (1h)", "cache_write", none},
        {"gpt-4o, cached write", none, "gpt-4o", "cached write", "cache_write", none},
        {"gpt-4o, cache creation", none, "gpt-4o", "cache creation", "cache_write", none},
        {"gpt-4o-audio-preview, audio output", none, "gpt-4o-audio-preview", "audio output", "audio_output",
         none},
        {"gpt-4o-audio-preview, input audio", none, "gpt-4o-audio-preview", "input audio", "audio_input",
         none},
        {"gpt-image-1, image input", none, "gpt-image-1", "image input", "image_input", none},
        {"gpt-image-1, Image Output", none, "gpt-image-1", "image output", "image_output", none},
        {"gpt-4o, cached audio input", none, "gpt-4o", "cached audio input", "cached_input", none},
        {"gpt-4o, audio", none, "gpt-4o", "audio", "unrecognised", none},
        {"gpt-4o, audio image input", none, "gpt-4o", "audio image input", "unrecognised", none},
        {"gpt-4o, input and output", none, "gpt-4o", "input and output", "unrecognised", none},
        {"gpt-4o, some-new-kind-2027", none, "gpt-4o", "some-new-kind-2027", "unrecognised", none},
        {"some-new-kind-2027", none, none, none, "unrecognised", none},
        {"gpt-4o, ", none, "gpt-4o", none, "unrecognised", none},
        {", input", none, none, "input", "unrecognised", none},
        {"", none, none, none, "unrecognised", none},
        {"  gpt-4o ,  input ", none, "gpt-4o", "input", "input", none},
        {"gpt-4o,input", none, "gpt-4o", "input", "input", none},
        {"some product, 2024", none, none, "2024", "unrecognised", none},
        {"gpt\t4o, input", none, none, "input", "unrecognised", none},
        {"a|b, input", none, none, "input", "unrecognised", none},
        // tools and services billed without a model
        {"web search tool calls", none, none, none, "tool", none},
        {"responses api | web_search", "responses api", none, none, "tool", none},
        {"Code Interpreter sessions", none, none, none, "tool", none},
        {"vector store storage, 1 GB", none, none, "1 gb", "tool", none},
        {"containers | 1 GB container", "containers", none, none, "tool", none},
        {"computer use, batch", none, none, "batch", "tool", "batch"},
        {"image generation", none, none, none, "tool", none},
        {"gpt-4o, file search", none, "gpt-4o", "file search", "unrecognised", none},
        // UTF-8 is kept byte for byte; only ASCII letters are lower-cased
        {"gpt-4o, Entr\xc3\xa9\x65 INPUT", none, "gpt-4o", "entr\xc3\xa9\x65 input", "input", none},
        {"\xc3\x89vals | gpt\xe2\x80\x91\x34o, output", "\xc3\x89vals", "gpt\xe2\x80\x91\x34o", "output",
         "output", none},
        {"\xff\xfe, input", none, "\xff\xfe", "input", "input", none},
        // very long strings
        {kLong + ", input", none, kLong, "input", "input", none},
        {"gpt-4o, " + kLong + " output", none, "gpt-4o", kLong + " output", "output", none},
        {std::string(50000, ' ') + "|" + kLong, none, none, none, "unrecognised", none},
    };
    for (const Case &c : cases) {
        LineItem want{c.surface, c.model, c.kind, c.token_class, c.tier};
        EXPECT_EQ(show(parse_line_item(c.text)), show(want)) << c.text.substr(0, 80);
    }
}

TEST(TokenClass, ClassifiesAnthropicTokenTypes) {
    EXPECT_STREQ(classify_token_kind("uncached_input_tokens"), "input");
    EXPECT_STREQ(classify_token_kind("output_tokens"), "output");
    EXPECT_STREQ(classify_token_kind("cache_read_input_tokens"), "cached_input");
    EXPECT_STREQ(classify_token_kind("cache_creation.ephemeral_5m_input_tokens"), "cache_write");
    EXPECT_STREQ(classify_token_kind("cache_creation.ephemeral_1h_input_tokens"), "cache_write");
    EXPECT_STREQ(classify_token_kind("session_seconds"), "unrecognised");
    EXPECT_STREQ(classify_token_kind("Input Tokens, Cache Hit"), "cached_input");
    EXPECT_STREQ(classify_token_kind(""), "unrecognised");
}

TEST(TokenClass, AnthropicRowsWithoutATokenType) {
    EXPECT_STREQ(anthropic_token_class("output_tokens", "tokens"), "output");
    EXPECT_STREQ(anthropic_token_class("output_tokens", std::nullopt), "output");
    EXPECT_STREQ(anthropic_token_class(std::nullopt, "web_search"), "tool");
    EXPECT_STREQ(anthropic_token_class(std::nullopt, "code_execution"), "tool");
    EXPECT_STREQ(anthropic_token_class("session_seconds", "session_usage"), "unrecognised");
    EXPECT_STREQ(anthropic_token_class(std::nullopt, "tokens"), "unrecognised");
    EXPECT_STREQ(anthropic_token_class(std::nullopt, std::nullopt), "unrecognised");
}

TEST(TokenClass, TierIsAWholeWord) {
    EXPECT_EQ(tier_in("output | Flex"), "flex");
    EXPECT_EQ(tier_in("priority, batch"), "priority");
    EXPECT_EQ(tier_in("batched input"), std::nullopt);
    EXPECT_EQ(tier_in("upscale"), std::nullopt);
    EXPECT_EQ(tier_in(""), std::nullopt);
}
