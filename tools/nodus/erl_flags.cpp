#include "erl_flags.hpp"

#include <algorithm>

namespace nodus::tools {

std::vector<std::string> translate_erl_flags(std::vector<std::string> args, std::span<const erl_flag> flags) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string& a = args[i];
        if (a == "--") break;
        if (a.size() < 2 || a[0] != '-') continue;
        // Both spellings name the flag; only the single-dash one needs rewriting.
        const bool single = a[1] != '-';
        std::string_view name = std::string_view(a).substr(single ? 1 : 2);
        auto it = std::find_if(flags.begin(), flags.end(), [&](const erl_flag& f) { return f.name == name; });
        if (it == flags.end()) continue;
        if (single) a.insert(0, 1, '-');
        i += it->values;
    }
    return args;
}

erl_style_argv::erl_style_argv(int argc, char** argv, std::span<const erl_style_command> commands)
    : args_(argv, argv + argc) {
    if (args_.size() > 1) {
        auto it = std::find_if(commands.begin(), commands.end(),
                               [&](const erl_style_command& c) { return c.name == args_[1]; });
        if (it != commands.end()) {
            std::vector<std::string> rest(args_.begin() + 2, args_.end());
            rest = translate_erl_flags(std::move(rest), it->flags);
            std::copy(rest.begin(), rest.end(), args_.begin() + 2);
        }
    }
    for (auto& a : args_)
        pointers_.push_back(a.data());
    pointers_.push_back(nullptr);
}

}  // namespace nodus::tools
