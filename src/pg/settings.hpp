// Settings (GUCs) defined in module.cpp, and what the rest of src/pg reads from them.
#pragma once

#include "core/url_policy.hpp"

namespace aispend::pg {

extern int max_response_mb;  // aispend.max_response_mb
extern int max_parse_mb;     // aispend.max_parse_mb
extern char *allowed_hosts;  // aispend.allowed_hosts (comma-separated; validated by its check hook)
extern char *webhook_hosts;  // aispend.webhook_hosts (same syntax and check hook)
extern bool allow_loopback;  // aispend.allow_loopback
extern char *env_key_roles;  // aispend.env_key_roles (identifier list; validated by its check hook)
extern int refresh_workers;  // aispend.refresh_workers

// aispend.allowed_hosts and aispend.allow_loopback as the core's host policy.
core::HostPolicy host_policy();

// aispend.webhook_hosts and aispend.allow_loopback: where alerts may be posted.
core::HostPolicy webhook_host_policy();

}  // namespace aispend::pg
