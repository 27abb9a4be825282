// Module entry: the magic block, settings, and aispend.library_version().
#include "pg/pg_headers.hpp"

extern "C" {
#include "utils/guc.h"
#include "utils/varlena.h"
}

#include <cstdio>
#include <string>
#include <vector>

#include "pg/cluster_edits.hpp"
#include "pg/guard.hpp"
#include "pg/settings.hpp"

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

namespace aispend::pg {

int max_response_mb = 64;
int max_parse_mb = 512;
char *allowed_hosts = nullptr;
char *webhook_hosts = nullptr;
bool allow_loopback = false;
char *env_key_roles = nullptr;
int refresh_workers = 4;

namespace {

core::HostPolicy policy_of(const char *list, const char *list_name) {
    core::HostPolicy policy;
    std::string why;
    // The check hook accepted the value, so it parses; an unparsable one would leave the list empty.
    core::parse_host_list(list != nullptr ? list : "", &policy.allowed_hosts, &why);
    policy.allow_loopback = allow_loopback;
    policy.list_name = list_name;
    return policy;
}

}  // namespace

core::HostPolicy host_policy() {
    return policy_of(allowed_hosts, "aispend.allowed_hosts");
}

core::HostPolicy webhook_host_policy() {
    return policy_of(webhook_hosts, "aispend.webhook_hosts");
}

}  // namespace aispend::pg

namespace {

// Whether the host list parses; on failure the reason is copied into `why` (no C++ object outlives this).
bool host_list_parses(const char *text, char *why, size_t why_size) noexcept {
    try {
        std::vector<std::string> hosts;
        std::string reason;
        if (aispend::core::parse_host_list(text, &hosts, &reason)) return true;
        snprintf(why, why_size, "%s", reason.c_str());
    } catch (...) {
        snprintf(why, why_size, "out of memory");
    }
    return false;
}

// GUC check hooks run in PostgreSQL's C context: C++ stays inside host_list_parses, and GUC_check_errdetail
// (which may raise an error) runs only after every C++ object is gone.
bool check_host_list(char **newval, void **, GucSource) {
    char why[256];
    if (host_list_parses(*newval != nullptr ? *newval : "", why, sizeof why)) return true;
    GUC_check_errdetail("%s", why);
    return false;
}

bool check_env_key_roles(char **newval, void **, GucSource) {
    char *copy = pstrdup(*newval != nullptr ? *newval : "");
    List *names = NIL;
    bool ok = SplitIdentifierString(copy, ',', &names);
    list_free(names);
    pfree(copy);
    if (!ok) GUC_check_errdetail("List syntax is invalid: give role names separated by commas.");
    return ok;
}

}  // namespace

void _PG_init(void) {
    // No libcurl here: this may run in the postmaster (shared_preload_libraries), and curl is not fork-safe.
    DefineCustomIntVariable(
        "aispend.max_response_mb", "Largest provider response body aispend accepts, in MiB.",
        "A response larger than this fails the sync with SQLSTATE AS006.", &aispend::pg::max_response_mb, 64,
        1, 1024, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "aispend.max_parse_mb", "Memory aispend may use to parse one provider response, in MiB.",
        "A response whose parsed form needs more fails the sync with SQLSTATE AS006; a provider page takes "
        "about "
        "7 times its size.",
        &aispend::pg::max_parse_mb, 512, 16, 4096, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "aispend.allowed_hosts", "Hosts aispend may send requests (and admin keys) to.",
        "Comma-separated host, host:port or *.domain entries; a host without a port means https on 443. "
        "Checked when a base_url is set and before every request.",
        &aispend::pg::allowed_hosts, "api.openai.com, api.anthropic.com, openrouter.ai", PGC_SUSET,
        GUC_LIST_INPUT, check_host_list, nullptr, nullptr);
    DefineCustomStringVariable(
        "aispend.webhook_hosts", "Hosts aispend may post alerts to (webhook URLs).",
        "Comma-separated host, host:port or *.domain entries, as aispend.allowed_hosts: https only (plain "
        "http to loopback with aispend.allow_loopback). Checked before every delivery.",
        &aispend::pg::webhook_hosts, "hooks.slack.com, *.webhook.office.com, discord.com", PGC_SUSET,
        GUC_LIST_INPUT, check_host_list, nullptr, nullptr);
    DefineCustomBoolVariable(
        "aispend.allow_loopback",
        "Whether base URLs and webhook URLs may point at loopback addresses, over http or https.",
        "For the bundled mock providers (tests, demo); off in production.", &aispend::pg::allow_loopback,
        false, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "aispend.env_key_roles", "Roles that may use admin keys from the server's environment.",
        "Comma-separated role names (members of them too); superusers always may. Both the role running a "
        "sync and the account's owner must be allowed.",
        &aispend::pg::env_key_roles, "", PGC_SUSET, GUC_LIST_INPUT, check_env_key_roles, nullptr, nullptr);
    DefineCustomIntVariable(
        "aispend.refresh_workers", "Most background workers one aispend.request_refresh starts.",
        "Each worker refreshes one account at a time, so this bounds how many accounts are fetched at once "
        "(each takes a max_worker_processes slot while it runs).",
        &aispend::pg::refresh_workers, 4, 1, 64, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("aispend");
    aispend::pg::install_cluster_edit_hooks();
}

AISPEND_FUNCTION(aispend_library_version) {
    return CStringGetTextDatum(AISPEND_VERSION);
}
