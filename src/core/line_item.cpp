#include "core/line_item.hpp"

#include "core/token_class.hpp"

namespace aispend::core {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

bool is_single_token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (is_space(c) || c == ',' || c == '|') return false;
    }
    return true;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char &c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

}  // namespace

LineItem parse_line_item(std::string_view text) {
    LineItem item;
    size_t comma = text.find(',');
    std::string_view head = text.substr(0, comma);
    size_t bar = head.rfind(" | ");
    if (bar != std::string_view::npos) {
        std::string_view surface = trim(head.substr(0, bar));
        if (!surface.empty()) item.surface = std::string(surface);
        head = head.substr(bar + 3);
    }
    if (comma != std::string_view::npos) {
        std::string_view kind = trim(text.substr(comma + 1));
        if (!kind.empty()) item.kind = lower(kind);
        if (is_single_token(trim(head))) item.model = std::string(trim(head));
    }
    if (item.model) {
        item.token_class = classify_token_kind(item.kind.value_or(""));
    } else {
        item.token_class = names_known_tool(text) ? "tool" : "unrecognised";
    }
    if (item.kind) item.tier = tier_in(*item.kind);
    return item;
}

}  // namespace aispend::core
