#include "core/line_item.hpp"

namespace aispend::core {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool is_kind(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ' ' || c == '_' || c == '-';
        if (!ok) return false;
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
    std::string_view rest = text;
    size_t bar = rest.rfind(" | ");
    if (bar != std::string_view::npos) {
        std::string_view surface = trim(rest.substr(0, bar));
        if (!surface.empty()) item.surface = std::string(surface);
        rest = rest.substr(bar + 3);
    }
    size_t comma = rest.rfind(',');
    if (comma == std::string_view::npos) return item;
    std::string_view model = trim(rest.substr(0, comma));
    std::string_view kind = trim(rest.substr(comma + 1));
    if (model.empty() || model.find_first_of(" \t,|") != std::string_view::npos || !is_kind(kind))
        return item;
    item.model = std::string(model);
    item.kind = lower(kind);
    return item;
}

}  // namespace aispend::core
