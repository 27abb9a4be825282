// RowWriter: C++ values to Datums (text converted from UTF-8 to the database encoding).
#include "pg/row_writer.hpp"

namespace aispend::pg {

void RowWriter::push(Datum value, bool is_null) {
    if (count_ >= kMaxColumns) elog(ERROR, "aispend: RowWriter column overflow");
    values_[count_] = value;
    nulls_[count_] = is_null;
    ++count_;
}

void RowWriter::text(const std::optional<std::string> &value) {
    if (!value) return push(0, true);
    // Providers speak UTF-8; the database may not.
    char *converted = pg_any_to_server(value->c_str(), static_cast<int>(value->size()), PG_UTF8);
    push(PointerGetDatum(cstring_to_text(converted)), false);
}

void RowWriter::bigint(const std::optional<int64_t> &value) {
    if (!value) return push(0, true);
    push(Int64GetDatum(*value), false);
}

void RowWriter::boolean(const std::optional<bool> &value) {
    if (!value) return push(0, true);
    push(BoolGetDatum(*value), false);
}

void RowWriter::timestamp(const std::optional<int64_t> &unix_seconds) {
    if (!unix_seconds) return push(0, true);
    push(TimestampTzGetDatum(time_t_to_timestamptz(static_cast<pg_time_t>(*unix_seconds))), false);
}

void RowWriter::numeric(const std::optional<std::string> &decimal_text) {
    if (!decimal_text) return push(0, true);
    push(DirectFunctionCall3(numeric_in, CStringGetDatum(decimal_text->c_str()), ObjectIdGetDatum(InvalidOid),
                             Int32GetDatum(-1)),
         false);
}

void RowWriter::end_row() {
    if (count_ != rsinfo_->setDesc->natts)
        elog(ERROR, "aispend: result row has %d columns, the function declares %d", count_,
             rsinfo_->setDesc->natts);
    tuplestore_putvalues(rsinfo_->setResult, rsinfo_->setDesc, values_, nulls_);
    count_ = 0;
}

}  // namespace aispend::pg
