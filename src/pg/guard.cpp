// Implementation of the C++ <-> PostgreSQL error guards (see guard.hpp).
#include "pg/guard.hpp"

#include <cstdio>
#include <new>

#include "core/errors.hpp"
#include "core/utf8.hpp"
#include "pg/errcodes.hpp"
#include "pg/provider_errors.hpp"

namespace aispend::pg {

void run_guarded(void (*fn)(void *), void *arg) {
    // No C++ object with a destructor may live in this frame: PG_TRY is a sigsetjmp.
    MemoryContext volatile saved_context = CurrentMemoryContext;
    ErrorData *volatile edata = nullptr;
    PG_TRY();
    { fn(arg); }
    PG_CATCH();
    {
        // errfinish leaves CurrentMemoryContext in ErrorContext; copy the error where the caller lives.
        MemoryContextSwitchTo(saved_context);
        edata = CopyErrorData();
        FlushErrorState();
    }
    PG_END_TRY();
    if (edata != nullptr) throw PgError(edata);
}

bool interrupt_pending() noexcept {
    return QueryCancelPending || ProcDiePending;
}

namespace {

// Error text copied out of an exception into static storage, so nothing is allocated inside a catch block.
struct PendingError {
    int sqlstate = 0;
    char message[2048] = {0};
    char detail[1024] = {0};
    char hint[1024] = {0};
};

// Copies text into out[size], cut between two UTF-8 characters when it does not fit.
void copy_text(char *out, size_t size, const char *text) noexcept {
    if (text == nullptr) text = "";
    size_t n = core::utf8_cut(text, strlen(text), size - 1);
    memcpy(out, text, n);
    out[n] = '\0';
}

}  // namespace

Datum entry(FunctionCallInfo fcinfo, Datum (*body)(FunctionCallInfo), const char *function_name) {
    static PendingError pending;  // static: the catch blocks below must not allocate
    ErrorData *edata = nullptr;
    bool interrupted = false;
    pending = PendingError{};
    try {
        return body(fcinfo);
    } catch (const PgError &e) {
        edata = e.edata();
    } catch (const Interrupted &) {
        interrupted = true;
    } catch (const SqlError &e) {
        pending.sqlstate = e.sqlstate();
        copy_text(pending.message, sizeof pending.message, e.what());
        copy_text(pending.detail, sizeof pending.detail, e.detail().c_str());
        copy_text(pending.hint, sizeof pending.hint, e.hint().c_str());
    } catch (const core::ProviderError &e) {
        if (e.kind() == core::ProviderError::Kind::Cancelled) {
            interrupted = true;
        } else {
            pending.sqlstate = sqlstate_for(e.kind());
            copy_text(pending.message, sizeof pending.message, e.what());
            copy_text(pending.hint, sizeof pending.hint, hint_for(e.kind()));
        }
    } catch (const std::bad_alloc &) {
        pending.sqlstate = ERRCODE_OUT_OF_MEMORY;
        snprintf(pending.message, sizeof pending.message, "out of memory in %s", function_name);
    } catch (const std::exception &e) {
        pending.sqlstate = kErrInternal;
        snprintf(pending.message, sizeof pending.message, "internal error in %s: %s", function_name,
                 e.what());
    } catch (...) {
        pending.sqlstate = kErrInternal;
        snprintf(pending.message, sizeof pending.message, "internal error in %s: unknown C++ exception",
                 function_name);
    }
    // Every handler has ended; now PostgreSQL may longjmp.
    if (edata != nullptr) ReThrowError(edata);
    if (interrupted) {
        CHECK_FOR_INTERRUPTS();  // raises 57014 with PostgreSQL's own reason (user request, statement
                                 // timeout)
        ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED),
                        errmsg("canceling statement: %s was interrupted", function_name)));
    }
    ereport(ERROR, (errcode(pending.sqlstate), errmsg("%s", pending.message),
                    pending.detail[0] ? errdetail("%s", pending.detail) : 0,
                    pending.hint[0] ? errhint("%s", pending.hint) : 0));
    pg_unreachable();
}

}  // namespace aispend::pg
