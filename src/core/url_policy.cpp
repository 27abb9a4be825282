// URL parsing (strict: anything ambiguous is refused rather than guessed) and the host allow-list.
#include "core/url_policy.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace aispend::core {

namespace {

struct UrlParts {
    std::string scheme;  // lower case
    std::string host;    // lower case, without brackets
    bool ipv6 = false;
    long port = 0;     // 0: the scheme's default
    std::string rest;  // path, query and fragment
};

bool fail(std::string *why, const std::string &text) {
    if (why != nullptr) *why = text;
    return false;
}

std::string lowered(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

bool parse_port(const std::string &text, long *port) {
    if (text.empty() || text.size() > 5) return false;
    if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    *port = std::stol(text);
    return *port >= 1 && *port <= 65535;
}

bool is_host_name(const std::string &host) {
    return !host.empty() && std::all_of(host.begin(), host.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '.' || c == '_';
    });
}

bool split_url(const std::string &url, UrlParts *parts, std::string *why) {
    for (unsigned char c : url) {
        if (c <= ' ' || c >= 0x7f || c == '\\') {
            return fail(why, "the URL must not contain spaces, control characters, non-ASCII or backslashes");
        }
    }
    size_t sep = url.find("://");
    if (sep == std::string::npos) return fail(why, "the URL must start with https://");
    parts->scheme = lowered(url.substr(0, sep));
    if (parts->scheme != "https" && parts->scheme != "http") return fail(why, "the scheme must be https");
    size_t host_start = sep + 3;
    size_t host_end = url.find_first_of("/?#", host_start);
    if (host_end == std::string::npos) host_end = url.size();
    std::string authority = url.substr(host_start, host_end - host_start);
    parts->rest = url.substr(host_end);
    if (authority.find('@') != std::string::npos)
        return fail(why, "the URL must not carry credentials (user:password@)");
    std::string port;
    bool has_port = false;
    if (!authority.empty() && authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string::npos) return fail(why, "the IPv6 address is missing its closing ]");
        parts->host = lowered(authority.substr(1, close - 1));
        parts->ipv6 = true;
        in6_addr address;
        if (inet_pton(AF_INET6, parts->host.c_str(), &address) != 1)
            return fail(why, "the host is not a valid IPv6 address");
        std::string after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') return fail(why, "the port must be a number from 1 to 65535");
            has_port = true;
            port = after.substr(1);
        }
    } else {
        size_t colon = authority.find(':');
        parts->host = lowered(authority.substr(0, colon));
        if (colon != std::string::npos) {
            has_port = true;
            port = authority.substr(colon + 1);
        }
        if (!is_host_name(parts->host)) return fail(why, "the URL has no valid host name");
    }
    if (has_port && !parse_port(port, &parts->port))
        return fail(why, "the port must be a number from 1 to 65535");
    return true;
}

// 127.0.0.0/8 written as four plain decimal parts (other spellings are simply not loopback here, and so
// must be on the allow-list like any other host).
bool is_loopback_ipv4(const std::string &host) {
    int parts = 0;
    size_t pos = 0;
    while (pos <= host.size()) {
        size_t dot = std::min(host.find('.', pos), host.size());
        std::string part = host.substr(pos, dot - pos);
        if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return false;
        if (!std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
        int value = std::stoi(part);
        if (value > 255 || (parts == 0 && value != 127)) return false;
        ++parts;
        pos = dot + 1;
    }
    return parts == 4;
}

bool is_loopback_host(const UrlParts &parts) {
    if (parts.ipv6) {
        in6_addr address;
        return inet_pton(AF_INET6, parts.host.c_str(), &address) == 1 &&
               std::memcmp(&address, &in6addr_loopback, sizeof address) == 0;
    }
    return parts.host == "localhost" || is_loopback_ipv4(parts.host);
}

// One allow-list entry ("host", "host:port", "[v6]:port", "*.domain") against an https URL.
bool entry_matches(const std::string &entry, const UrlParts &url) {
    const bool wildcard = entry.rfind("*.", 0) == 0;
    UrlParts allowed;
    if (!split_url("https://" + (wildcard ? entry.substr(2) : entry) + "/", &allowed, nullptr)) return false;
    if ((allowed.port == 0 ? 443 : allowed.port) != (url.port == 0 ? 443 : url.port)) return false;
    if (!wildcard) return allowed.host == url.host && allowed.ipv6 == url.ipv6;
    const std::string domain = "." + allowed.host;
    return !url.ipv6 && url.host.size() > domain.size() &&
           url.host.compare(url.host.size() - domain.size(), domain.size(), domain) == 0;
}

// "host", "[v6]" or "host:port", as messages show it.
std::string authority_of(const UrlParts &parts) {
    std::string where = parts.ipv6 ? "[" + parts.host + "]" : parts.host;
    if (parts.port != 0) where += ":" + std::to_string(parts.port);
    return where;
}

bool check_host(const UrlParts &parts, const HostPolicy &policy, bool *allow_http, std::string *why) {
    const bool loopback = is_loopback_host(parts);
    if (loopback && policy.allow_loopback) {
        if (allow_http != nullptr) *allow_http = true;
        return true;
    }
    if (allow_http != nullptr) *allow_http = false;
    if (loopback)
        return fail(why, "loopback addresses are allowed only when a superuser sets aispend.allow_loopback");
    if (parts.scheme == "http") return fail(why, "plain http:// is allowed only to loopback; use https://");
    for (const std::string &entry : policy.allowed_hosts)
        if (entry_matches(entry, parts)) return true;
    return fail(why, "host " + authority_of(parts) + " is not in " + policy.list_name);
}

}  // namespace

bool parse_host_list(const std::string &text, std::vector<std::string> *hosts, std::string *why) {
    hosts->clear();
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t comma = std::min(text.find(',', pos), text.size());
        std::string entry = text.substr(pos, comma - pos);
        size_t begin = entry.find_first_not_of(" \t");
        size_t end = entry.find_last_not_of(" \t");
        entry = begin == std::string::npos ? "" : lowered(entry.substr(begin, end - begin + 1));
        pos = comma + 1;
        if (entry.empty()) continue;
        UrlParts parts;
        std::string probe = entry.rfind("*.", 0) == 0 ? entry.substr(2) : entry;
        if (!split_url("https://" + probe + "/", &parts, nullptr) || parts.host.empty())
            return fail(why, "\"" + entry + "\" is not a host, host:port or *.domain");
        hosts->push_back(entry);
    }
    return true;
}

bool check_request_url(const std::string &url, const HostPolicy &policy, bool *allow_http, std::string *why) {
    UrlParts parts;
    return split_url(url, &parts, why) && check_host(parts, policy, allow_http, why);
}

std::string url_for_messages(const std::string &url) {
    UrlParts parts;
    if (!split_url(url, &parts, nullptr)) return "";
    return parts.scheme + "://" + authority_of(parts) + parts.rest.substr(0, parts.rest.find_first_of("?#"));
}

std::string origin_for_messages(const std::string &url) {
    UrlParts parts;
    if (!split_url(url, &parts, nullptr)) return "";
    return parts.scheme + "://" + authority_of(parts);
}

std::vector<std::string> url_secret_parts(const std::string &url) {
    UrlParts parts;
    if (!split_url(url, &parts, nullptr)) return {url};
    std::vector<std::string> secrets;
    const size_t begin = parts.rest.find_first_not_of('/');
    if (begin == std::string::npos) return secrets;
    secrets.push_back(parts.rest.substr(begin));
    size_t pos = begin;
    while (pos < parts.rest.size()) {
        size_t end = std::min(parts.rest.find_first_of("/?&=;#", pos), parts.rest.size());
        if (end - pos >= kMinSecretUrlPart) secrets.push_back(parts.rest.substr(pos, end - pos));
        pos = end + 1;
    }
    return secrets;
}

bool check_base_url(const std::string &url, const HostPolicy &policy, std::string *why) {
    if (url.size() > kMaxBaseUrlLength)
        return fail(why, "the URL is longer than " + std::to_string(kMaxBaseUrlLength) + " characters");
    UrlParts parts;
    if (!split_url(url, &parts, why)) return false;
    if (parts.rest.find('?') != std::string::npos)
        return fail(why, "a base URL must not have a query string");
    if (parts.rest.find('#') != std::string::npos) return fail(why, "a base URL must not have a fragment");
    return check_host(parts, policy, nullptr, why);
}

}  // namespace aispend::core
