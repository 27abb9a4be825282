// Builds one result row at a time from C++ values and appends it to a materialized SRF's tuplestore.
// Every method calls PostgreSQL: use it only inside pg_call().
#pragma once

#include <optional>
#include <string>

#include "pg/pg_headers.hpp"

namespace aispend::pg {

class RowWriter {
  public:
    static constexpr int kMaxColumns = 32;

    explicit RowWriter(ReturnSetInfo *rsinfo) : rsinfo_(rsinfo) {}

    void text(const std::optional<std::string> &value);
    void text(const std::string &value) { text(std::optional<std::string>(value)); }
    void bigint(const std::optional<int64_t> &value);
    void boolean(const std::optional<bool> &value);
    void timestamp(const std::optional<int64_t> &unix_seconds);
    void numeric(const std::optional<std::string> &decimal_text);
    void end_row();  // appends the row and starts the next

    // Whether the function's SQL declaration has a column after those written so far: a column added to a
    // released function is written only then, so the library still serves an install whose
    // ALTER EXTENSION UPDATE has not run yet.
    bool declares_more() const { return count_ < rsinfo_->setDesc->natts; }
    int declared_columns() const { return rsinfo_->setDesc->natts; }

  private:
    void push(Datum value, bool is_null);

    ReturnSetInfo *rsinfo_;
    Datum values_[kMaxColumns];
    bool nulls_[kMaxColumns];
    int count_ = 0;
};

}  // namespace aispend::pg
