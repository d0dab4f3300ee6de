// Character data as C++ text: what unicode:characters_to_binary/1 and iolist_to_binary/1 give,
// as std::string. Used by io servers and io clients (nodus/services/io.hpp) and by the
// evaluator's BIFs. Both walk deep lists with an explicit stack (any depth, any length).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "nodus/term/term.hpp"

namespace nodus::io_lib {

// Unicode chardata (code points and UTF-8 binaries in a possibly deep list, whose tails may be
// binaries) as UTF-8; nullopt when it is not chardata (a surrogate, a negative number, an atom
// ...). Binaries are copied as they are, as characters_to_binary/1 does.
std::optional<std::string> chardata_to_utf8(const term& chardata);
// The bytes of an iolist (bytes 0..255 and binaries, deep); nullopt when it is not one.
std::optional<std::string> iolist_to_bytes(const term& iolist);
// Latin-1 bytes as UTF-8 (characters_to_binary(Bytes, latin1, unicode)).
std::string latin1_to_utf8(std::string_view bytes);
// Latin-1 chardata (characters 0..255 and binaries whose bytes are Latin-1) as UTF-8.
std::optional<std::string> latin1_chardata_to_utf8(const term& chardata);

}  // namespace nodus::io_lib
