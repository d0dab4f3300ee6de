// Placeholder: replaced by the full parser.
#include "nodus/term/text.hpp"

namespace nodus {
std::string parse_error::describe() const {
    return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
}
result<term, parse_error> parse_term(std::string_view, const parse_options&) {
    return unexpected(parse_error{0, 1, 1, "not implemented"});
}
}  // namespace nodus
