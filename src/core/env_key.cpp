#include "core/env_key.hpp"

#include <cstring>

namespace aispend::core {

namespace {

bool is_plain(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

// True when text[i] starts an escape "_xHH_".
bool escape_at(const std::string &text, size_t i) {
    return i + 5 <= text.size() && text[i] == '_' && text[i + 1] == 'x' && is_hex(text[i + 2]) &&
           is_hex(text[i + 3]) && text[i + 4] == '_';
}

void append_escape(std::string &out, unsigned char byte) {
    static const char kHex[] = "0123456789ABCDEF";
    out += "_x";
    out += kHex[byte >> 4];
    out += kHex[byte & 15];
    out += '_';
}

}  // namespace

bool is_env_key_name(const std::string &name) {
    const size_t prefix = std::strlen(kEnvKeyPrefix);
    if (name.size() <= prefix || name.compare(0, prefix, kEnvKeyPrefix) != 0) return false;
    for (char c : name)
        if (!is_plain(c)) return false;
    return true;
}

std::string fallback_key_env(const std::string &server_name) {
    std::string name = kEnvKeyPrefix;
    for (size_t i = 0; i < server_name.size(); ++i) {
        char c = server_name[i];
        if (!is_plain(c) || escape_at(server_name, i)) {
            append_escape(name, static_cast<unsigned char>(c));
        } else {
            name += c;
        }
    }
    return name;
}

}  // namespace aispend::core
