#include "nodus/services/services.hpp"

#include "nodus/node/node.hpp"
#include "nodus/services/global.hpp"
#include "nodus/services/io.hpp"
#include "nodus/services/pg.hpp"

namespace nodus::services {

void start_defaults(node& n) {
    register_default_exports(n.rt().exports());
    pg::register_pg_exports(n.rt().exports());
    global::register_global_exports(n.rt().exports());
    io::start_user(n.rt());
    pg::start_scope(n, pg::default_scope());
    global::start(n);
}

}  // namespace nodus::services
