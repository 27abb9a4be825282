// Module entry: the magic block, settings, and aispend.library_version().
#include "pg/pg_headers.hpp"

extern "C" {
#include "utils/guc.h"
}

#include "pg/guard.hpp"
#include "pg/settings.hpp"

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

namespace aispend::pg {
int max_response_mb = 64;
}

void _PG_init(void) {
    // No libcurl here: this may run in the postmaster (shared_preload_libraries), and curl is not fork-safe.
    DefineCustomIntVariable(
        "aispend.max_response_mb", "Largest provider response body aispend accepts, in MiB.",
        "A response larger than this fails the sync with SQLSTATE AS006.", &aispend::pg::max_response_mb, 64,
        1, 1024, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("aispend");
}

AISPEND_FUNCTION(aispend_library_version) {
    return CStringGetTextDatum(AISPEND_VERSION);
}
