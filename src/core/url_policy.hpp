// Where aispend may send a request (and so an admin key): the base-URL rules and the hosts a superuser
// allows. Checked when a server's base_url is set and again before every request.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace aispend::core {

constexpr size_t kMaxBaseUrlLength = 512;

// The hosts requests may go to. An entry is "host" (https on port 443 only), "host:port", or "*.domain"
// (any subdomain, port 443); names compare without case. Loopback (127.0.0.0/8, ::1, localhost), over
// http or https and on any port, only with allow_loopback; plain http only to loopback.
struct HostPolicy {
    std::vector<std::string> allowed_hosts;
    bool allow_loopback = false;
    std::string list_name = "aispend.allowed_hosts";  // the setting a refusal names
};

// Parses a comma-separated host list (aispend.allowed_hosts, aispend.webhook_hosts); false with a reason for
// a malformed entry.
bool parse_host_list(const std::string &text, std::vector<std::string> *hosts, std::string *why);

// The checks of a server's base_url: well formed (no credentials, query or fragment; at most
// kMaxBaseUrlLength characters) and allowed by the policy. On refusal, *why says why (never echoing the URL).
bool check_base_url(const std::string &url, const HostPolicy &policy, std::string *why);

// The check before each request (the URL may carry a query string). *allow_http says whether plain http may
// be used for it (loopback with allow_loopback).
bool check_request_url(const std::string &url, const HostPolicy &policy, bool *allow_http, std::string *why);

// A request URL as error messages name it: scheme, host, port and path, never credentials, a query string
// or a fragment; "" when the URL does not parse (its text is then not echoed at all).
std::string url_for_messages(const std::string &url);

// For a URL that is itself a secret (a webhook's path is its token): only scheme, host and port, as
// "https://hooks.slack.com"; "" when the URL does not parse.
std::string origin_for_messages(const std::string &url);

// The texts to mask wherever such a URL might be echoed: its path, query and fragment as one text, and each
// of their parts between '/', '?', '&', '=', ';' and '#' that has at least kMinSecretUrlPart characters; the
// whole URL when it does not parse.
constexpr size_t kMinSecretUrlPart = 4;
std::vector<std::string> url_secret_parts(const std::string &url);

}  // namespace aispend::core
