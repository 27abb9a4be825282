// Settings (GUCs) defined in module.cpp.
#pragma once

namespace aispend::pg {
extern int max_response_mb;  // aispend.max_response_mb
}
