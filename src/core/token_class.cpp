// Token classes of cost lines by keywords (the rules are in token_class.hpp).
#include "core/token_class.hpp"

#include <initializer_list>
#include <string>
#include <vector>

namespace aispend::core {

namespace {

bool is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
}

// The words of a text, ASCII-lower-cased; "non cached" and "not cached" are read as "uncached".
class Words {
  public:
    explicit Words(std::string_view text) : lower_(text) {
        for (char &c : lower_) {
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
        std::string_view all(lower_);
        for (size_t i = 0; i < all.size();) {
            if (!is_word_byte(static_cast<unsigned char>(all[i]))) {
                ++i;
                continue;
            }
            size_t end = i;
            while (end < all.size() && is_word_byte(static_cast<unsigned char>(all[end]))) ++end;
            add(all.substr(i, end - i));
            i = end;
        }
    }

    bool has(std::initializer_list<std::string_view> any) const {
        for (std::string_view word : words_) {
            for (std::string_view wanted : any) {
                if (word == wanted) return true;
            }
        }
        return false;
    }

    bool has_phrase(std::string_view first, std::string_view second) const {
        for (size_t i = 0; i + 1 < words_.size(); ++i) {
            if (words_[i] == first && words_[i + 1] == second) return true;
        }
        return false;
    }

    // The first word of the text that is one of `any`, or nullopt.
    OptStr first_of(std::initializer_list<std::string_view> any) const {
        for (std::string_view word : words_) {
            for (std::string_view wanted : any) {
                if (word == wanted) return std::string(word);
            }
        }
        return std::nullopt;
    }

  private:
    void add(std::string_view word) {
        bool negated = !words_.empty() && (words_.back() == "non" || words_.back() == "not");
        if (word == "cached" && negated) {
            words_.back() = "uncached";
        } else {
            words_.push_back(word);
        }
    }

    std::string lower_;
    std::vector<std::string_view> words_;  // views of lower_, or of literals
};

constexpr const char *kUnrecognised = "unrecognised";

}  // namespace

const char *classify_token_kind(std::string_view kind) {
    const Words w(kind);
    if (w.has({"cache", "cached", "caching"}) &&
        w.has({"write", "writes", "written", "creation", "create", "created"}))
        return "cache_write";
    if (w.has({"cached"}) || (w.has({"cache"}) && w.has({"read", "reads", "hit", "hits"})))
        return "cached_input";
    const bool input = w.has({"input", "inputs", "prompt", "prompts", "uncached"});
    const bool output = w.has({"output", "outputs", "completion", "completions", "reasoning"});
    if (input == output) return kUnrecognised;  // neither, or both: no single price applies
    const bool audio = w.has({"audio"});
    const bool image = w.has({"image", "images"});
    if (audio && image) return kUnrecognised;
    if (audio) return input ? "audio_input" : "audio_output";
    if (image) return input ? "image_input" : "image_output";
    return input ? "input" : "output";
}

OptStr tier_in(std::string_view text) {
    return Words(text).first_of({"batch", "priority", "flex", "scale"});
}

bool names_known_tool(std::string_view text) {
    const Words w(text);
    return w.has_phrase("file", "search") || w.has_phrase("web", "search") ||
           w.has_phrase("code", "interpreter") || w.has_phrase("vector", "store") ||
           w.has_phrase("vector", "stores") || w.has_phrase("vector", "storage") ||
           w.has({"container", "containers"}) || w.has_phrase("computer", "use") ||
           w.has_phrase("image", "generation");
}

const char *anthropic_token_class(const OptStr &token_type, const OptStr &cost_type) {
    if (token_type) return classify_token_kind(*token_type);
    if (cost_type && *cost_type != "tokens") return "tool";
    return kUnrecognised;
}

}  // namespace aispend::core
