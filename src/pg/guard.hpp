// The two guards between C++ and PostgreSQL error handling.
//
// C++ -> PostgreSQL: every SQL-callable function is declared with AISPEND_FUNCTION(name) and its body is
// run by entry(), which catches every C++ exception and raises ereport(ERROR) only after the catch block
// has ended (a longjmp out of an active handler would leak the exception).
//
// PostgreSQL -> C++: code that holds C++ objects calls PostgreSQL through pg_call(), which turns an
// ereport(ERROR) into a PgError exception (so destructors run) that entry() re-throws with its original
// SQLSTATE, message, detail and hint.
#pragma once

#include <exception>
#include <type_traits>
#include <string>
#include <utility>

#include "pg/pg_headers.hpp"

namespace aispend::pg {

// A PostgreSQL error caught by pg_call; owns a copy of the ErrorData (palloc'd in the caller's context).
class PgError : public std::exception {
  public:
    explicit PgError(ErrorData *edata) noexcept : edata_(edata) {}
    const char *what() const noexcept override { return edata_ && edata_->message ? edata_->message : "?"; }
    ErrorData *edata() const noexcept { return edata_; }

  private:
    ErrorData *edata_;
};

// An error aispend's own C++ code raises, to become ereport(ERROR) at the boundary.
class SqlError : public std::exception {
  public:
    SqlError(int sqlstate, std::string message, std::string detail = {}, std::string hint = {})
        : sqlstate_(sqlstate),
          message_(std::move(message)),
          detail_(std::move(detail)),
          hint_(std::move(hint)) {}
    const char *what() const noexcept override { return message_.c_str(); }
    int sqlstate() const noexcept { return sqlstate_; }
    const std::string &detail() const noexcept { return detail_; }
    const std::string &hint() const noexcept { return hint_; }

  private:
    int sqlstate_;
    std::string message_, detail_, hint_;
};

// Thrown when the caller's query was cancelled; entry() then lets PostgreSQL raise the real reason (57014).
class Interrupted : public std::exception {
  public:
    const char *what() const noexcept override { return "interrupted"; }
};

// Runs fn(arg) inside PG_TRY; an ereport(ERROR) becomes a thrown PgError. fn must not throw.
void run_guarded(void (*fn)(void *), void *arg);

// Calls a callable that uses PostgreSQL functions; returns its result or throws PgError.
template <typename Fn>
auto pg_call(Fn &&fn) -> decltype(fn()) {
    using Result = decltype(fn());
    struct Frame {
        Fn *fn;
        std::exception_ptr failure;
        typename std::conditional<std::is_void<Result>::value, int, Result>::type result{};
    } frame{&fn, nullptr, {}};
    run_guarded(
        [](void *raw) {
            auto *f = static_cast<Frame *>(raw);
            try {
                if constexpr (std::is_void<Result>::value)
                    (*f->fn)();
                else
                    f->result = (*f->fn)();
            } catch (...) {
                f->failure = std::current_exception();  // rethrown after PG_TRY has been left
            }
        },
        &frame);
    if (frame.failure) std::rethrow_exception(frame.failure);
    if constexpr (!std::is_void<Result>::value) return frame.result;
}

// True when PostgreSQL has a cancel or terminate request pending (safe to call anywhere: no ereport).
bool interrupt_pending() noexcept;

// Runs body(fcinfo) with every C++ exception turned into an ereport(ERROR) after the catch has ended.
Datum entry(FunctionCallInfo fcinfo, Datum (*body)(FunctionCallInfo), const char *function_name);

}  // namespace aispend::pg

// Declares an SQL-callable function `name`; the body that follows is C++ run inside aispend::pg::entry().
#define AISPEND_FUNCTION(name)                                 \
    static Datum name##_body(FunctionCallInfo fcinfo);         \
    extern "C" {                                               \
    PGDLLEXPORT Datum name(PG_FUNCTION_ARGS);                  \
    PG_FUNCTION_INFO_V1(name);                                 \
    Datum name(PG_FUNCTION_ARGS) {                             \
        return aispend::pg::entry(fcinfo, name##_body, #name); \
    }                                                          \
    }                                                          \
    static Datum name##_body(FunctionCallInfo fcinfo)
