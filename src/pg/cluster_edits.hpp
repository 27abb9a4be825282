// Changes made by hand on a Citus cluster, rolled up after each statement (cluster_edits.cpp).
#pragma once

namespace aispend::pg {

// Installs the executor and utility hooks and the transaction callbacks; called once, from _PG_init.
void install_cluster_edit_hooks();

}  // namespace aispend::pg
