// aispend.parse_line_item(text) and aispend.token_class(token_type, cost_type): the cost-line classification
// the sync applies, callable from SQL (to reclassify stored rows, or to explain one).
// Both read and return text in the database encoding unconverted: the parser only looks at ASCII bytes, and
// every server encoding keeps ASCII bytes out of its multibyte characters.
#include "pg/pg_headers.hpp"

#include <string>
#include <string_view>

#include "core/line_item.hpp"
#include "core/token_class.hpp"
#include "pg/guard.hpp"

namespace {

using aispend::core::OptStr;

std::string_view text_arg(FunctionCallInfo fcinfo, int n) {
    text *value = aispend::pg::pg_call([&] { return PG_GETARG_TEXT_PP(n); });
    return std::string_view(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
}

OptStr opt_text_arg(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n)) return std::nullopt;
    return std::string(text_arg(fcinfo, n));
}

// Call inside pg_call.
Datum text_datum(const std::string &value) {
    return PointerGetDatum(cstring_to_text_with_len(value.data(), static_cast<int>(value.size())));
}

}  // namespace

// (surface, model, kind, token_class, tier) of one OpenAI line_item.
AISPEND_FUNCTION(aispend_parse_line_item) {
    const aispend::core::LineItem item = aispend::core::parse_line_item(text_arg(fcinfo, 0));
    const OptStr token_class = item.token_class;
    // Pointers only: no C++ object may be created inside pg_call, where an error longjmps past destructors.
    const OptStr *fields[5] = {&item.surface, &item.model, &item.kind, &token_class, &item.tier};
    return aispend::pg::pg_call([&] {
        TupleDesc desc;
        if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
            elog(ERROR, "aispend.parse_line_item must return a record");
        desc = BlessTupleDesc(desc);
        Datum values[5];
        bool nulls[5];
        for (int i = 0; i < 5; ++i) {
            nulls[i] = !*fields[i];
            values[i] = nulls[i] ? (Datum)0 : text_datum(**fields[i]);
        }
        return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
    });
}

// The class of an Anthropic cost_report row; either argument may be NULL.
AISPEND_FUNCTION(aispend_token_class) {
    const std::string token_class =
        aispend::core::anthropic_token_class(opt_text_arg(fcinfo, 0), opt_text_arg(fcinfo, 1));
    return aispend::pg::pg_call([&] { return text_datum(token_class); });
}
