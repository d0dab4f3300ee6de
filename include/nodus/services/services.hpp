// The cluster services every nodus node runs by default, as an OTP node runs kernel's:
// global_name_server (global names, locks, the transitive mesh), the default pg scope (as if
// kernel's start_pg were true), and their functions in the export table (global:*, pg:*).
#pragma once

namespace nodus {
class node;
}

namespace nodus::services {

// Starts what is not running yet; safe to call more than once.
void start_defaults(node& n);

}  // namespace nodus::services
