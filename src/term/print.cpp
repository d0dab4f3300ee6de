// Placeholder: replaced by the full printer.
#include "nodus/term/text.hpp"

namespace nodus {
void print(std::string& out, const term&, const print_options&) { out += "?"; }
std::string to_text(const term& t, const print_options& o) {
    std::string s;
    print(s, t, o);
    return s;
}
void print_atom(std::string& out, atom a) { out += a.name(); }
void print_float(std::string& out, double) { out += "?"; }
std::string integer_to_string(const term&, unsigned) { return "?"; }
}  // namespace nodus
