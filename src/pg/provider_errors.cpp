// SQLSTATEs and hints for provider failures (the table is in docs/internals.md).
#include "pg/provider_errors.hpp"

#include "core/utf8.hpp"
#include "pg/errcodes.hpp"

namespace aispend::pg {

int sqlstate_for(core::ProviderError::Kind kind) noexcept {
    using Kind = core::ProviderError::Kind;
    switch (kind) {
        case Kind::Auth:
            return kErrProviderAuth;
        case Kind::Parse:
            return kErrProviderParse;
        case Kind::Network:
        case Kind::Timeout:
            return kErrProviderNetwork;
        case Kind::RateLimited:
            return kErrProviderRateLimited;
        case Kind::BodyTooLarge:
            return kErrProviderTooLarge;
        case Kind::CursorLoop:
            return kErrProviderCursorLoop;
        case Kind::PageLimit:
            return kErrProviderPageLimit;
        case Kind::Config:
            return ERRCODE_INVALID_PARAMETER_VALUE;
        case Kind::Cancelled:
            return ERRCODE_QUERY_CANCELED;
        case Kind::Http:
            break;
    }
    return kErrProviderHttp;
}

const char *hint_for(core::ProviderError::Kind kind) noexcept {
    using Kind = core::ProviderError::Kind;
    switch (kind) {
        case Kind::Auth:
            return "Check that the user mapping holds an organization admin key (OpenAI \"sk-admin-...\", "
                   "Anthropic \"sk-ant-admin...\"), not a project or API key.";
        case Kind::RateLimited:
            return "The provider kept answering 429. Try again later, or raise the server option "
                   "max_retries.";
        case Kind::Network:
        case Kind::Timeout:
            return "Check the server option base_url and the network path to the provider; raise timeout_ms "
                   "for "
                   "slow links.";
        case Kind::BodyTooLarge:
            return "Lower the server option page_buckets so that pages are smaller, or have a superuser "
                   "raise "
                   "aispend.max_response_mb or aispend.max_parse_mb.";
        case Kind::Parse:
            return "The provider's response did not have the documented shape; the tables were left "
                   "unchanged.";
        case Kind::CursorLoop:
            return "The provider repeated a pagination cursor; try again later.";
        case Kind::PageLimit:
            return "The provider kept returning another page. If the organisation really needs more pages, "
                   "raise "
                   "the server option max_pages: ALTER SERVER <account> OPTIONS (ADD max_pages '5000').";
        default:
            return nullptr;
    }
}

SqlError account_error(const std::string &account, const core::ProviderError &error,
                       const core::Redactor &redactor) {
    const char *hint = hint_for(error.kind());
    return SqlError(sqlstate_for(error.kind()),
                    "aispend account \"" + account + "\": " + redactor.apply(error.what()), "",
                    hint ? hint : "");
}

void log_diagnostic(const std::string &account, const core::ProviderError &error,
                    const core::Redactor &redactor) {
    const std::string &diagnostic = error.details().diagnostic;
    if (diagnostic.empty()) return;
    const std::string text = core::clip_text(redactor.apply(diagnostic), 300);
    pg_call([&] {
        ereport(LOG_SERVER_ONLY, (errhidestmt(true), errmsg("aispend account \"%s\": %s %s: %s",
                                                            account.c_str(), error.details().provider.c_str(),
                                                            error.details().endpoint.c_str(), text.c_str())));
    });
}

}  // namespace aispend::pg
