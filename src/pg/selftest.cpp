// aispend._boundary_selftest(kind): raises each kind of failure through the exception boundary, so the
// test suite can prove that none of them crashes the backend or loses its SQLSTATE.
#include "pg/pg_headers.hpp"

#include <new>
#include <stdexcept>
#include <string>

#include "core/errors.hpp"
#include "pg/guard.hpp"

AISPEND_FUNCTION(aispend_boundary_selftest) {
    std::string kind = aispend::pg::pg_call([&] { return text_to_cstring(PG_GETARG_TEXT_PP(0)); });
    std::string alive = "a C++ object whose destructor must run";
    if (kind == "std") throw std::runtime_error("std::runtime_error from C++");
    if (kind == "bad_alloc") throw std::bad_alloc();
    if (kind == "unknown") throw 42;
    if (kind == "sql")
        throw aispend::pg::SqlError(ERRCODE_CHECK_VIOLATION, "an SqlError", "its detail", "its hint");
    if (kind == "provider") {
        aispend::core::ProviderError::Details d;
        d.kind = aispend::core::ProviderError::Kind::Auth;
        d.provider = "openai";
        d.endpoint = "https://api.openai.com/v1/organization/costs";
        d.http_status = 401;
        d.provider_type = "invalid_request_error";
        d.provider_message = "Incorrect API key provided";
        throw aispend::core::ProviderError(d);
    }
    if (kind == "pg")  // a PostgreSQL error raised while `alive` exists keeps its SQLSTATE (22P02)
        aispend::pg::pg_call([] { return DirectFunctionCall1(int4in, CStringGetDatum("not a number")); });
    return aispend::pg::pg_call([&] { return CStringGetTextDatum(("ok: " + kind + ", " + alive).c_str()); });
}
